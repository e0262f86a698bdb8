"""DAG-parse cost in a real ``airflow dag-processor``: per-file parse durations (ours, BaseOperator, dbt).

A scratch SQLite metadata database and ``airflow dag-processor`` (one parsing process, every file
re-parsed as soon as it may: ``min_file_process_interval=0``) over ``bench/parse_dags/``: one DAG file
with our operator and sensor, the same DAG shape with ``BaseOperator`` only, and with the dbt Cloud
provider's operator and sensor. The durations are the dag-processor's own ``dag_processing.last_duration``
timings per file (its manager measures each parse child from start to result), received over StatsD
(UDP on loopback, InfluxDB-style tags for the file name). Runs until every file has ``--parses`` parses
(default 60) or ``--timeout`` seconds. Airflow's ``parsing_pre_import_modules`` (default on) imports the
``airflow.*`` modules a file names in the long-lived parent before forking, so dbt Cloud's modules are
imported once; ours are imported in every child (``--pre-import-ours`` adds them to the parent through a
tiny ``airflow_local_settings`` and measures the difference).

    python bench/dag_parse.py [--parses 60] [--timeout 480] [--pre-import-ours]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    PYTHON,
    REPO,
    artifact_log,
    percentile,
    print_machine,
    save,
    scratch_airflow_env,
    stop_process_group,
)

AIRFLOW = str(Path(PYTHON).parent / "airflow")
FILES = {"parse_base": "BaseOperator only", "parse_modelred": "ours", "parse_dbt_cloud": "dbt Cloud"}
LINE = re.compile(r"dag_processing\.last_duration[^:]*file_name=([A-Za-z0-9_.-]+)[^:]*:([0-9.]+)\|ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parses", type=int, default=60)
    ap.add_argument("--timeout", type=float, default=480)
    ap.add_argument("--pre-import-ours", action="store_true")
    args = ap.parse_args()
    machine = print_machine()
    home = Path(tempfile.mkdtemp(prefix="modelred-bench-parse-"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    env = scratch_airflow_env(str(home))
    env.update(
        {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "bench" / "parse_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "0",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(sock.getsockname()[1]),
            "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    if args.pre_import_ours:
        settings = home / "config"
        settings.mkdir()
        (settings / "airflow_local_settings.py").write_text(
            "import modelred_provider.operators.assessment  # noqa: F401\n"
            "import modelred_provider.sensors.assessment  # noqa: F401\n"
            "__all__: list[str] = []\n"  # as docs/deployment.md shows it
        )
        env["PYTHONPATH"] = str(settings)
    subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, cwd=REPO, capture_output=True, check=True, timeout=600
    )
    samples: dict[str, list[float]] = {name: [] for name in FILES}
    log = open(artifact_log("dag-processor"), "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [AIRFLOW, "dag-processor"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = time.monotonic()
    try:
        while time.monotonic() - started < args.timeout and min(map(len, samples.values())) < args.parses:
            if proc.poll() is not None:
                raise RuntimeError(f"the dag-processor exited; see {log.name}")
            try:
                data = sock.recv(65536).decode(errors="replace")
            except TimeoutError:
                continue
            for line in data.splitlines():
                match = LINE.search(line)
                if match and match.group(1) in samples:
                    # The manager sends its run_duration in seconds (as a "|ms" timing): in ms here.
                    samples[match.group(1)].append(float(match.group(2)) * 1000)
    finally:
        stop_process_group(proc)
        log.close()
        shutil.rmtree(home, ignore_errors=True)
    results: dict[str, Any] = {}
    for name, values in samples.items():
        # The first parse of each file compiles and caches its bytecode: not what a deployment pays.
        values = values[1:]
        results[name] = {
            "what": FILES[name],
            "parses": len(values),
            "median_ms": round(statistics.median(values), 1) if values else None,
            "p95_ms": round(percentile(values, 95), 1) if values else None,
        }
    base = results["parse_base"]["median_ms"]
    print(f"\nper-parse duration in a real dag-processor (pre-import ours: {args.pre_import_ours})")
    for r in results.values():
        extra = None if base is None or r["median_ms"] is None else round(r["median_ms"] - base, 1)
        r["extra_over_base_ms"] = extra
        print(f"  {r['what']:20} {r['parses']:4} parses  median {r['median_ms']} ms  p95 {r['p95_ms']} ms  "
              f"extra over BaseOperator {extra} ms")  # fmt: skip
    ours = results["parse_modelred"]["extra_over_base_ms"]
    if ours is not None:
        verdict = "MET" if ours <= 2 else f"MISSED by {ours - 2:.1f} ms"
        print(f"  goal: ours <= +2 ms over BaseOperator: {verdict}")
    name = "dag-parse-preimport" if args.pre_import_ours else "dag-parse"
    figures = {
        "machine": machine,
        "load_at_end": list(os.getloadavg()),
        "args": vars(args),
        "results": results,
    }
    figures["parse_seconds"] = round(time.monotonic() - started, 1)
    save(name, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
