"""Shared helpers for the benchmarks: the machine, a free port, a scratch AIRFLOW_HOME, the emulator process.

Nothing here is imported by the provider or the tests. Each benchmark prints its figures and writes them as
JSON under ``bench/results/`` (committed: small files, what BENCHMARKS.md's tables are printed from by
``bench/report.py``); bulky logs go to ``artifacts/bench/`` (ignored by git).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts" / "bench"
RESULTS = REPO / "bench" / "results"
PYTHON = sys.executable
# A key the emulator accepts; bench-only, never a real credential.
BENCH_API_KEY = "mr_bench_key_000001"
#: When this benchmark process started (``save`` records the seconds since, unless given).
_STARTED = time.monotonic()


def machine() -> dict[str, Any]:
    """What the figures were measured on (nproc, CPU model, RAM, load average now)."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def print_machine() -> dict[str, Any]:
    m = machine()
    print(
        f"machine: {m['nproc']} CPU ({m['cpu']}), {m['ram_gib']} GiB RAM, load {m['loadavg']}, "
        f"Python {m['python']}, {m['utc']}"
    )
    return m


def commit_id() -> str:
    """The short commit measured, ``+dirty`` when the provider or the bench differ from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "modelred_provider", "bench"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def save(name: str, data: dict[str, Any]) -> Path:
    """Writes ``bench/results/<name>.json``, adding the commit, the load at the end and the duration."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data.setdefault("commit", commit_id())
    data.setdefault("load_at_end", [round(x, 2) for x in os.getloadavg()])
    data.setdefault("seconds", round(time.monotonic() - _STARTED, 1))
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"figures written to {path.relative_to(REPO)}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scratch_airflow_env(home: str | None = None) -> dict[str, str]:
    """Environment for a child interpreter that must not touch ~/airflow."""
    env = dict(os.environ)
    env["AIRFLOW_HOME"] = home or tempfile.mkdtemp(prefix="modelred-bench-home-")
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # A pip-installed provider and Airflow have their bytecode compiled at install time, so a DAG
    # processor never compiles them: let the children cache bytecode (the warm-up writes it), but
    # in a scratch prefix, never into the shared .venv or the repository.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "modelred-bench-pycache")
    return env


def http_json(method: str, url: str, body: Any = None, timeout: float = 10.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None or method in ("POST", "PUT"):  # the control API takes writes only as JSON
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


@dataclass
class EmulatorProcess:
    """The ModelRed emulator in its own process (its CLI), so that its CPU is not charged to the client."""

    url: str
    api_key: str
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def counts(self) -> dict[str, int]:
        return dict(http_json("GET", f"{self.url}/_emulator/counts"))

    def reset_counts(self) -> None:
        http_json("DELETE", f"{self.url}/_emulator/counts")

    def complete(self, assessment_id: str) -> None:
        http_json("POST", f"{self.url}/_emulator/assessments/{assessment_id}/complete")

    def connections_accepted(self) -> int:
        """TCP connections this process has accepted so far, from its own counter when it has one."""
        counts = self.counts()
        for key in ("connections", "connections_accepted", "tcp_connections"):
            if key in counts:
                return int(counts[key])
        raise KeyError("the emulator exposes no connection counter")


@contextlib.contextmanager
def emulator_process(
    assessment_seconds: float, scenario: dict[str, Any] | None = None, api_key: str = BENCH_API_KEY
) -> Iterator[EmulatorProcess]:
    port = free_port()
    cmd = [
        PYTHON,
        "-m",
        "modelred_provider.testing.emulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--api-key",
        api_key,
        "--assessment-seconds",
        str(assessment_seconds),
    ]
    scenario_file = None
    if scenario is not None:
        fd, scenario_file = tempfile.mkstemp(prefix="modelred-bench-scenario-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(scenario, fh)
        cmd += ["--scenario", scenario_file]
    log = open(artifact_log("emulator"), "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the emulator exited with {proc.returncode}; see {log.name}")
            try:
                http_json("GET", f"{url}/_emulator/health", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the emulator did not answer on {url} within 30 s") from None
                time.sleep(0.1)
        yield EmulatorProcess(url=url, api_key=api_key, proc=proc)
    finally:
        stop_process_group(proc)
        log.close()
        if scenario_file:
            os.unlink(scenario_file)


def artifact_log(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.log"


def stop_process_group(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """TERM the process group we started (start_new_session=True), then KILL if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def conn_env_json(conn_type: str, host: str, password: str | None = None, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_*`` value in JSON form (keeps extra types)."""
    conn: dict[str, Any] = {"conn_type": conn_type, "host": host}
    if password is not None:
        conn["password"] = password
    if extra:
        conn["extra"] = extra
    return json.dumps(conn)


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(values)
    if not s:
        raise ValueError("no values")
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))
    return s[k]
