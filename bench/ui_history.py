"""How long the ModelRed pages take with 1,000 stored summaries (issue 15's target: under one second).

A scratch AIRFLOW_HOME with a migrated SQLite metadata DB gets N summaries (``tests/ui/seed.py``: real
``dag_run``, ``task_instance`` and ``xcom`` rows, 5 DAGs, 4 models). Then Airflow's own api-server app
(``airflow.api_fastapi.app.create_app``: auth middleware, the plugin's mount, its session) answers
``GET /modelred/`` (the history page: every summary, grouped, one chart per model, the filters) and a
task's tab, in process through Starlette's test client, so the figure is the server's work without the
network. Median and max of R requests are reported.

    python bench/ui_history.py [--summaries 1000] [--requests 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _child(summaries: int, requests: int) -> dict[str, object]:
    sys.path.insert(0, str(REPO / "tests"))
    from airflow.api_fastapi.app import create_app
    from airflow.utils.session import create_session
    from starlette.testclient import TestClient
    from ui.seed import seed

    dags = [f"bench_dag_{i}" for i in range(5)]
    with create_session() as session:
        for dag_id in dags:
            seed(session, dag_id, summaries // len(dags))
    client = TestClient(create_app("core"))
    first = client.get("/modelred/")
    assert first.status_code == 200, first.text[:500]
    shown = first.text.count('class="point"')
    assert shown == summaries, f"the page drew {shown} points, expected {summaries}"
    tab = f"/modelred/ti/{dags[0]}/seed__{dags[0]}__{summaries // len(dags) - 1:05d}/assess"
    assert client.get(tab).status_code == 200

    def timed(path: str) -> list[float]:
        out = []
        for _ in range(requests):
            t0 = time.perf_counter()
            resp = client.get(path)
            out.append(time.perf_counter() - t0)
            assert resp.status_code == 200
        return out

    page, task = timed("/modelred/"), timed(tab)
    return {
        "summaries": summaries,
        "requests": requests,
        "page_bytes": len(first.content),
        "history_page_median_s": statistics.median(page),
        "history_page_max_s": max(page),
        "task_tab_median_s": statistics.median(task),
        "task_tab_max_s": max(task),
        "load_avg": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--summaries", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.summaries, args.requests)))
        return
    sys.path.insert(0, str(REPO / "bench"))
    from _common import print_machine, save

    machine = print_machine()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelred-bench-ui-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": home,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API_AUTH__JWT_SECRET": "modelred-bench-ui",
            }
        )
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
        argv = [sys.executable, __file__, "--child", "--summaries", str(args.summaries)]
        argv += ["--requests", str(args.requests)]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            sys.exit(f"the benchmark failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))
    save("ui_history", {"machine": machine, "args": vars(args), "results": result,
                        "seconds": round(time.monotonic() - started, 1)})  # fmt: skip


if __name__ == "__main__":
    main()
