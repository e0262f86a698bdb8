"""How long the triggerer's event loop stalls while the hook's async side handles a hostile or a large
answer (issue 9, items 4 and 11; target: no stall over 100 ms from parsing an answer).

Each case runs in a fresh interpreter (so the first call really imports aiohttp), with a ticker
task that wakes every 5 ms; the figure is the longest the ticker waited past its 5 ms. Cases:

* ``first call``: the first ``aget_assessment`` of the process (imports the aiohttp transport);
* ``answer N MiB``: a COMPLETED assessment whose report is N MiB of JSON, read whole;
* ``trigger poll``: the same answer as a waiting trigger reads it (``report=False``: not built);
* ``gzip bomb``: about 1 MiB on the wire that inflates to 1 GiB (refused at the 32 MiB cap);
* ``json.loads N MiB in a thread``: what a thread would have given (the GIL is held throughout).

Usage: .venv/bin/python bench/loop_stalls.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    r"""
    import asyncio, gzip, json, os, sys, time, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    sys.path.insert(0, os.environ["REPO"])
    case, size_mib = sys.argv[1], float(sys.argv[2])

    def report(mib):
        n = int(mib * 1024 * 1024 / 330)
        probes = [{"key": f"p{i}", "findings": ["x" * 50] * 5, "passRate": 0.5} for i in range(n)]
        return {"data": {"assessment_id": "asm_1", "status": "COMPLETED", "progress": 100,
                         "report": {"overallScore": 90, "probes": probes}}}

    if case == "bomb":
        body = gzip.compress(b'{"data": "' + b"0" * (1024 * 1024 * 1024) + b'"}', 9)
        headers = {"Content-Encoding": "gzip"}
    else:
        body = json.dumps(report(size_mib)).encode()
        headers = {}
    small = json.dumps({"data": {"assessment_id": "asm_1", "status": "RUNNING"}}).encode()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            data = small if self.path.endswith("warm") else body
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                if data is body:
                    self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        def log_message(self, *a): pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["AIRFLOW_CONN_MODELRED_DEFAULT"] = json.dumps({"conn_type": "modelred",
        "host": f"http://127.0.0.1:{server.server_address[1]}", "password": "mr_bench_key_000001",
        "extra": {"max_retries": 0, "timeout": 60}})
    from modelred_provider.hooks.modelred import ModelRedHook

    async def main():
        worst = [0.0]
        stop = asyncio.Event()
        async def ticker():
            while not stop.is_set():
                t = time.perf_counter(); await asyncio.sleep(0.005)
                worst[0] = max(worst[0], time.perf_counter() - t - 0.005)
        async with ModelRedHook() as hook:
            if case not in ("first", "thread"):
                await hook.aget_assessment("warm")  # import and connect before measuring
            task = asyncio.create_task(ticker()); await asyncio.sleep(0.05); worst[0] = 0.0
            if case == "thread":
                await asyncio.to_thread(json.loads, body)
            else:
                try:
                    await hook.aget_assessment("warm" if case == "first" else "asm_1", report=case != "poll")
                except Exception as error:
                    print(type(error).__name__, file=sys.stderr)
            stop.set(); await task
        return worst[0]

    print(json.dumps({"lag_ms": asyncio.run(main()) * 1000}))
    """
)


def run(case: str, mib: float) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, case, str(mib)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"REPO": str(REPO), "PATH": "/usr/bin:/bin", "AIRFLOW_HOME": "/tmp/modelred-bench-home"},
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return float(json.loads(done.stdout.strip().splitlines()[-1])["lag_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = [
        ("first call (imports aiohttp)", "first", 0),
        ("answer 2 MiB", "answer", 2),
        ("answer 20 MiB", "answer", 20),
        ("answer 32 MiB (the cap)", "answer", 31.5),
        ("trigger poll of a 20 MiB answer (report not read)", "poll", 20),
        ("gzip bomb (1 GiB inflated)", "bomb", 0),
        ("json.loads 20 MiB in a thread (for comparison)", "thread", 20),
    ]
    sys.path.insert(0, str(REPO / "bench"))
    from _common import print_machine, save

    machine = print_machine()
    started = time.monotonic()
    results = []
    print(f"{'case':<50} {'max loop lag, ms (median of ' + str(args.repeat) + ')':>36}  runs")
    for label, case, mib in cases:
        runs = [run(case, mib) for _ in range(args.repeat)]
        print(f"{label:<50} {statistics.median(runs):>36.1f}  {', '.join(f'{r:.1f}' for r in runs)}")
        results.append({"case": label, "median_ms": round(statistics.median(runs), 1),
                         "runs_ms": [round(r, 1) for r in runs]})  # fmt: skip
    save("loop_stalls", {"machine": machine, "args": vars(args), "results": results,
                         "seconds": round(time.monotonic() - started, 1)})  # fmt: skip


if __name__ == "__main__":
    main()
