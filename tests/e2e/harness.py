"""Real Airflow components and the ModelRed emulator as separate processes, for the end-to-end tests.

Every process is started in its own process group (``start_new_session``) with its output in a log
file, and stopped by group: TERM, a bounded wait, then KILL. ``AirflowStack.stop()`` is safe to call
twice and runs from a fixture finaliser, so it also runs when a test fails.

By default a stack is SQLite + LocalExecutor with one triggerer. Given ``database_url``, ``celery``
(:class:`CeleryBackend`) and ``triggerers``, it is a production-shaped one: Postgres metadata DB,
CeleryExecutor with N ``airflow celery worker`` processes, N triggerers (tests/production).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
#: The key of the e2e emulator and connection (distinctive: the e2e tests grep logs and the DB for it).
E2E_API_KEY = "mr_e2e_7Qk2ZpX9wLc4Vt8N"
AIRFLOW = str(VENV_BIN / "airflow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text[-lines:])


def wait_until(
    what: str,
    check: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.5,
    diagnostics: Callable[[], str] = lambda: "",
) -> Any:
    """Call ``check`` until it returns something truthy; fail naming ``what`` with diagnostics."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # a component not up yet answers with connection errors
            last_error = exc
            result = None
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(
        f"Timed out after {timeout:.0f}s waiting for {what}"
        + (f" (last error: {last_error!r})" if last_error else "")
        + (f"\n{extra}" if (extra := diagnostics()) else "")
    )


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children first found through /proc), whatever its process group."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Component:
    """One long-running process in its own process group, logging to ``log_path``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path, cwd: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.generation = 0
        self.stopped = True

    def start(self) -> Component:
        self.generation += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it; closed in stop()
        log.write(f"\n===== start #{self.generation}: {' '.join(self.argv)}\n".encode())
        log.flush()
        self._log = log
        self.stopped = False
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace: float = 15.0) -> None:
        """TERM the whole group, wait for the leader, then KILL whatever of the group is left."""
        stop_all([self], grace)

    def sigkill(self, *, tree: bool = False) -> None:
        """Simulate a crash: KILL the group at once, no clean-up. ``tree``: also every descendant in
        another process group (a task process under a Celery worker), as when its machine dies."""
        family = descendants(self.pid) if tree and self.proc is not None else []
        self.kill_group(signal.SIGKILL)
        for pid in family:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)
            self._log.close()
            self.stopped = True

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited {self.proc.returncode if self.proc else '-'}"
        return f"--- {self.name} ({state}), last lines of {self.log_path}:\n{tail(self.log_path)}"


def stop_all(components: Iterable[Component], grace: float = 15.0) -> None:
    """TERM every group at once, wait for the leaders within one shared grace period, then KILL the groups.

    Children (task runners, uvicorn workers, trigger runners) may outlive their leader, so the KILL goes
    to the whole group even when the leader exited on TERM.
    """
    started = [c for c in components if c.proc is not None and not c.stopped]
    for c in started:
        c.kill_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for c in started:
        assert c.proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            c.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for c in started:
        assert c.proc is not None
        c.kill_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            c.proc.wait(timeout=5)
        c._log.close()
        c.stopped = True


class EmulatorProcess:
    """The ModelRed emulator started through its command line, controlled over its HTTP control API."""

    def __init__(
        self,
        api_keys: Iterable[str],
        assessment_seconds: float,
        log_dir: Path,
        env: dict[str, str],
        scenario: Path | None = None,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "modelred_provider.testing.emulator", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--assessment-seconds", str(assessment_seconds)]
        for key in api_keys:
            argv += ["--api-key", key]
        if scenario is not None:
            argv += ["--scenario", str(scenario)]
        self.component = Component("emulator", argv, env, log_dir, REPO)

    def start(self, timeout: float = 30) -> EmulatorProcess:
        self.component.start()
        wait_until(
            "the emulator's /_emulator/health",
            lambda: requests.get(f"{self.url}/_emulator/health", timeout=2).ok,
            timeout=timeout,
            interval=0.2,
            diagnostics=self.component.describe,
        )
        return self

    def stop(self) -> None:
        self.component.stop(grace=5)

    def counts(self) -> dict[str, int]:
        resp = requests.get(f"{self.url}/_emulator/counts", timeout=5)
        resp.raise_for_status()
        data = resp.json()
        counts = data.get("counts", data) if isinstance(data, dict) else {}
        return {str(k): int(v) for k, v in counts.items()}

    def count(self, key: str) -> int:
        return self.counts().get(key, 0)

    def reset_counts(self) -> None:
        requests.delete(f"{self.url}/_emulator/counts", timeout=5).raise_for_status()

    def created(self) -> list[str]:
        """Ids of every assessment created, in creation order."""
        resp = requests.get(f"{self.url}/_emulator/assessments", timeout=10)
        resp.raise_for_status()
        return [str(i) for i in resp.json()["data"]]

    def control(self, assessment_id: str, action: str) -> None:
        # json={}: the control API takes writes only as application/json (no cross-site form posts).
        resp = requests.post(f"{self.url}/_emulator/assessments/{assessment_id}/{action}", json={}, timeout=5)
        assert resp.ok, f"emulator control {action} for {assessment_id}: HTTP {resp.status_code} {resp.text}"


@dataclass(frozen=True)
class CeleryBackend:
    """CeleryExecutor settings: a broker (``redis://...``), a result backend (``db+postgresql://...``) and
    how many ``airflow celery worker`` processes to run, each with ``concurrency`` task slots."""

    broker_url: str
    result_backend: str
    workers: int = 2
    concurrency: int = 4


class AirflowStack:
    """A fresh AIRFLOW_HOME with api-server, scheduler, dag-processor and triggerer as separate processes.

    ``database_url`` (e.g. ``postgresql+psycopg2://...``) replaces the SQLite file; ``celery`` runs the
    CeleryExecutor with its workers (``celery-worker-1``...); ``triggerers`` > 1 runs that many
    (``triggerer-1``...). Each is a separate process in ``components``.
    """

    COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")

    def __init__(
        self,
        dag_sources: Iterable[Path],
        connection: dict[str, Any],
        extra_env: dict[str, str],
        *,
        database_url: str | None = None,
        celery: CeleryBackend | None = None,
        triggerers: int = 1,
    ):
        self.database_url = database_url
        self.celery = celery
        self.triggerers = triggerers
        self.home = Path(tempfile.mkdtemp(prefix="modelred-e2e-home-"))
        self.dags_folder = self.home / "dags"
        self.dags_folder.mkdir()
        for src in dag_sources:
            for file in sorted(src.glob("*.py")):
                shutil.copy(file, self.dags_folder / file.name)
        self.log_dir = self.home / "component-logs"
        self.log_dir.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = self._environment(connection, extra_env)
        self.components: dict[str, Component] = {}
        self._token: str | None = None
        self.component_names = self._component_names()

    def _component_names(self) -> tuple[str, ...]:
        names = ["api-server", "scheduler", "dag-processor"]
        if self.triggerers == 1:
            names.append("triggerer")
        else:
            names += [f"triggerer-{i}" for i in range(1, self.triggerers + 1)]
        if self.celery is not None:
            names += [f"celery-worker-{i}" for i in range(1, self.celery.workers + 1)]
        return tuple(names)

    def _argv(self, name: str) -> list[str]:
        if name == "api-server":
            return [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.port)]
        if name.startswith("triggerer-"):
            # Several on one machine: they would all bind the trigger log server's port; the
            # api-server reads the trigger logs from the shared AIRFLOW_HOME instead.
            return [AIRFLOW, "triggerer", "--skip-serve-logs"]
        if name.startswith("celery-worker-"):
            assert self.celery is not None
            index = name.rsplit("-", 1)[1]
            return [
                AIRFLOW, "celery", "worker", "--celery-hostname", f"worker{index}@%h",
                "--concurrency", str(self.celery.concurrency), "--skip-serve-logs",
                "--without-gossip", "--without-mingle",
            ]  # fmt: skip
        return [AIRFLOW, *name.split()]

    def _environment(self, connection: dict[str, Any], extra_env: dict[str, str]) -> dict[str, str]:
        # Nothing from the unit tests' Airflow settings (unit-test mode, their temp home) leaks in.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": "modelred-e2e-secret-key",
                "AIRFLOW__API_AUTH__JWT_SECRET": "modelred-e2e-jwt-secret",
                # Connection passwords and trigger kwargs are stored encrypted, as in a real deployment.
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                # A killed triggerer's triggers are taken over once its heartbeat is this old.
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW_CONN_MODELRED_DEFAULT": json.dumps(connection),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.database_url is not None:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.database_url
        if self.celery is not None:
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "AIRFLOW__CELERY__BROKER_URL": self.celery.broker_url,
                    "AIRFLOW__CELERY__RESULT_BACKEND": self.celery.result_backend,
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.celery.concurrency),
                    "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                }
            )
        env.update(extra_env)
        return env

    # -- lifecycle -------------------------------------------------------------------------------
    def run_cli(self, *args: str, timeout: float = 180, env: dict[str, str] | None = None):
        return subprocess.run(
            [AIRFLOW, *args],
            env=env or self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def python(self, code: str, timeout: float = 120) -> str:
        """Run Python with this deployment's settings (e.g. to read the metadata DB through Airflow)."""
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"python in the stack's env failed:\n{result.stderr[-3000:]}"
        return result.stdout

    def migrate(self) -> None:
        result = self.run_cli("db", "migrate", timeout=300)
        assert result.returncode == 0, (
            f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )

    def start_component(self, name: str) -> Component:
        component = Component(name, self._argv(name), self.env, self.log_dir, self.home)
        self.components[name] = component.start()
        return component

    def restart_component(self, name: str) -> Component:
        component = self.components[name]
        return component.start()

    def start(self, timeout: float = 180) -> AirflowStack:
        self.migrate()
        for name in self.component_names:
            self.start_component(name)
        self.wait_healthy(timeout=timeout)
        for name in self.component_names:
            if name.startswith("celery-worker-"):
                self.wait_worker_ready(name, timeout=timeout)
        return self

    def wait_worker_ready(self, name: str, timeout: float = 120) -> None:
        """Until the Celery worker ``name`` (this start of it) says it is ready to take tasks."""
        component = self.components[name]
        marker = f"===== start #{component.generation}:"

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Checked here, not in wait_until (which takes an exception for "not yet"): a worker that
            # exited fails at once.
            assert component.alive(), f"{name} exited early\n{component.describe()}"
            if " ready." in component.log_path.read_text(errors="replace").rsplit(marker, 1)[-1]:
                return
            time.sleep(1)
        raise AssertionError(f"Timed out after {timeout:.0f}s waiting for {name}\n{component.describe()}")

    def stop(self) -> None:
        # The scheduler gets TERM first, so it does not react to the others going away.
        rest = [n for n in self.components if n not in ("scheduler", "dag-processor", "api-server")]
        order = ("scheduler", *rest, "dag-processor", "api-server")
        stop_all([self.components[n] for n in order if n in self.components])
        # Task processes get their own process group from their supervisor (setpgid), so one still
        # running when a test failed outlives the groups above. Every process of this deployment has
        # our unique AIRFLOW_HOME in its environment: find those by pid and KILL them.
        for pid in self.leftover_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def leftover_pids(self) -> list[int]:
        marker = f"AIRFLOW_HOME={self.home}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:  # gone, or not ours to read
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
        return found

    def diagnostics(self) -> str:
        return "\n".join(c.describe() for c in self.components.values())

    # -- REST API --------------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            # With simple_auth_manager_all_admins, GET /auth/token hands out an admin JWT without credentials.
            resp = requests.get(f"{self.url}/auth/token", timeout=10)
            assert resp.status_code in (200, 201), (
                f"GET /auth/token: HTTP {resp.status_code} {resp.text[:500]}"
            )
            self._token = resp.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, *, ok: bool = True, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        resp = requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)
        if ok:
            assert resp.ok, f"{method} {path}: HTTP {resp.status_code} {resp.text[:1000]}"
        return resp

    def health(self) -> dict[str, Any]:
        resp = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5)
        resp.raise_for_status()
        return resp.json()

    def wait_healthy(
        self, timeout: float = 120, components: Iterable[str] = ("scheduler", "triggerer", "dag_processor")
    ):
        wanted = tuple(components)
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            # A component that exited fails at once (wait_until would take it for "not yet").
            for c in self.components.values():
                if not c.stopped and not c.alive():
                    raise AssertionError(f"{c.name} exited early\n{self.diagnostics()}")
            try:
                info = self.health()
                if all(info.get(name, {}).get("status") == "healthy" for name in wanted):
                    return
            except Exception as exc:  # the api-server not up yet
                last_error = exc
            time.sleep(1)
        raise AssertionError(
            f"Timed out after {timeout:.0f}s waiting for {', '.join(wanted)} healthy"
            + (f" (last error: {last_error!r})" if last_error else "")
            + f"\n{self.diagnostics()}"
        )

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        def parsed() -> dict[str, Any] | None:
            resp = self.api("GET", f"/api/v2/dags/{dag_id}", ok=False)
            if resp.status_code == 200:
                return resp.json()
            errors = self.api("GET", "/api/v2/importErrors").json().get("import_errors", [])
            mine = [
                e for e in errors if dag_id in e.get("stack_trace", "") or dag_id in e.get("filename", "")
            ]
            if mine:
                raise AssertionError(f"import error for {dag_id}: {mine}")
            return None

        return wait_until(
            f"DAG {dag_id} parsed by the dag-processor",
            parsed,
            timeout=timeout,
            interval=1,
            diagnostics=self.diagnostics,
        )

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        self.wait_for_dag(dag_id)
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        resp = self.api(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}}
        )
        return str(resp.json()["dag_run_id"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}").json()

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()

    def wait_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Iterable[str],
        timeout: float = 120,
        seen: list[str] | None = None,
    ) -> dict[str, Any]:
        """Poll the task instance until its state is one of ``states``; record every state seen."""
        wanted = set(states)
        terminal = {"success", "failed", "upstream_failed", "skipped", "removed"}

        def reached() -> dict[str, Any] | None:
            ti = self.task_instance(dag_id, run_id, task_id)
            if seen is not None and (not seen or seen[-1] != ti["state"]):
                seen.append(ti["state"])
            if ti["state"] in wanted:
                return ti
            if ti["state"] in terminal:
                raise AssertionError(
                    f"{dag_id}.{task_id} ended {ti['state']}, expected {sorted(wanted)}\n"
                    f"task log:\n{self.task_log(dag_id, run_id, task_id, ti.get('try_number') or 1)}"
                )
            return None

        return wait_until(
            f"{dag_id}.{task_id} in {sorted(wanted)}",
            reached,
            timeout=timeout,
            interval=0.5,
            diagnostics=lambda: (
                self.diagnostics() + f"\nstates seen: {seen}\n{self.task_log(dag_id, run_id, task_id, 1)}"
            ),
        )

    def wait_run_state(self, dag_id: str, run_id: str, states: Iterable[str], timeout: float = 120) -> dict:
        wanted = set(states)
        return wait_until(
            f"run {run_id} of {dag_id} in {sorted(wanted)}",
            lambda: (run := self.dag_run(dag_id, run_id))["state"] in wanted and run,
            timeout=timeout,
            interval=1,
            diagnostics=self.diagnostics,
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        resp = self.api(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            ok=False,
            headers={"Accept": "application/json"},
            params={"full_content": "true"},
        )
        if not resp.ok:
            return f"<log unavailable: HTTP {resp.status_code}>"
        content = resp.json().get("content", [])
        if isinstance(content, list):
            return "\n".join(
                str(item.get("event", item)) if isinstance(item, dict) else str(item) for item in content
            )
        return str(content)
