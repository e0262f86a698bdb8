"""DAG-parse cost: extra import time of our operator and sensor modules over ``import airflow.sdk``.

Each sample is a fresh interpreter that imports ``airflow.sdk`` (the baseline every DAG file pays), then
times the import of one target. Targets are interleaved round-robin so that a change of machine load hits
all of them alike; the median of N samples is reported, next to dbt Cloud's operator module.

    python bench/imports.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PYTHON, REPO, median, print_machine, save, scratch_airflow_env

TARGETS: dict[str, list[str]] = {
    "modelred (operators.assessment + sensors.assessment)": [
        "modelred_provider.operators.assessment",
        "modelred_provider.sensors.assessment",
    ],
    "dbt Cloud (airflow.providers.dbt.cloud.operators.dbt)": ["airflow.providers.dbt.cloud.operators.dbt"],
    "HTTP (airflow.providers.http.sensors.http)": ["airflow.providers.http.sensors.http"],
}
OURS = "modelred (operators.assessment + sensors.assessment)"
DBT = "dbt Cloud (airflow.providers.dbt.cloud.operators.dbt)"

# Runs in the child. Prints JSON: baseline seconds, target seconds, heavy modules the target pulled in.
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
before = set(sys.modules)
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
t2 = time.perf_counter()
heavy = sorted(m for m in set(sys.modules) - before if m in ("aiohttp", "requests", "tenacity", "httpx"))
print(json.dumps({"sdk": t1 - t0, "extra": t2 - t1, "new_modules": len(set(sys.modules) - before),
                  "heavy": heavy}))
"""


def sample(modules: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run(
        [PYTHON, "-c", CHILD, *modules], env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"importing {modules} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30, help="fresh interpreters per target (default 30)")
    args = ap.parse_args()
    m = print_machine()
    env = scratch_airflow_env()
    # Warm-up: write bytecode caches and the scratch airflow.cfg, so no sample pays for them.
    targets = {}
    for name, modules in TARGETS.items():
        try:
            sample(modules, env)
            targets[name] = modules
        except RuntimeError as exc:
            print(f"NOT MEASURED: {name}: {str(exc).strip().splitlines()[-1]}")
    if OURS not in targets or DBT not in targets:
        print("cannot compare: ours or dbt Cloud's module does not import (see above)")
        return 1
    samples: dict[str, list[dict]] = {name: [] for name in targets}
    for _ in range(args.runs):
        for name, modules in targets.items():
            samples[name].append(sample(modules, env))
    results = {}
    print(f"\nextra import time over `import airflow.sdk`, median of {args.runs} fresh interpreters each")
    print(f"{'target':58} {'extra ms':>9} {'sdk ms':>8} {'new modules':>12}  heavy modules pulled in")
    for name, rows in samples.items():
        extra_ms = median([r["extra"] for r in rows]) * 1000
        sdk_ms = median([r["sdk"] for r in rows]) * 1000
        results[name] = {
            "extra_ms_median": round(extra_ms, 2),
            "extra_ms_min": round(min(r["extra"] for r in rows) * 1000, 2),
            "extra_ms_max": round(max(r["extra"] for r in rows) * 1000, 2),
            "sdk_ms_median": round(sdk_ms, 1),
            "new_modules": rows[-1]["new_modules"],
            "heavy": rows[-1]["heavy"],
        }
        heavy = ", ".join(rows[-1]["heavy"]) or "none"
        print(f"{name:58} {extra_ms:9.1f} {sdk_ms:8.0f} {rows[-1]['new_modules']:12d}  {heavy}")
    ours, dbt = results[OURS]["extra_ms_median"], results[DBT]["extra_ms_median"]
    ratio = ours / dbt if dbt else float("nan")
    print(f"\nours / dbt Cloud = {ratio:.3f}  (target < 0.100)   ours = {ours:.1f} ms  (target <= 10 ms)")
    print(
        f"targets met: extra<=10ms {'YES' if ours <= 10 else 'NO'}, "
        f"ratio<0.1 {'YES' if ratio < 0.1 else 'NO'}"
    )
    save("imports", {"machine": m, "runs": args.runs, "results": results, "ratio_ours_to_dbt": ratio})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
