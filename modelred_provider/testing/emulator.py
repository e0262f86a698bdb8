"""A local ModelRed API emulator over real HTTP (uvicorn + Starlette), for tests, demos and CI.

Python::

    with ModelRedEmulator(assessment_seconds=1) as emu:
        requests.get(emu.url + "/api/models", headers={"Authorization": f"Bearer {emu.api_key}"})

Command line (foreground; Ctrl-C stops it)::

    python -m modelred_provider.testing.emulator --host 127.0.0.1 --port 8765 --api-key mr_test_key_0001 \
        --assessment-seconds 5 [--scenario scenario.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from modelred_provider.testing.app import build_app
from modelred_provider.testing.faults import Fault, FaultBook, make_fault
from modelred_provider.testing.guard import is_loopback_name
from modelred_provider.testing.state import CANCELLED, COMPLETED, FAILED, EmulatorState

__all__ = ["ModelRedEmulator", "exposure_warning", "log", "main"]

_DEFAULT_API_KEY = "mr_test_key_0001"

log = logging.getLogger(__name__)


def exposure_warning(host: str) -> str | None:
    """Return the warning to log when listening on ``host`` exposes the emulator beyond this machine."""
    if is_loopback_name(host):
        return None
    return (
        f"The ModelRed emulator listens on {host or 'every interface'}, not on loopback: its control API "
        "(/_emulator/...) needs no key, so anyone who can reach this port can drive it (arm faults, end "
        "assessments, change the scenario). Use --host 127.0.0.1 unless you need other machines to reach it"
    )


def _counting_protocol(state: EmulatorState) -> type[asyncio.Protocol]:
    """Make uvicorn's HTTP protocol count each TCP connection it accepts (for connection-reuse checks)."""
    base: type[asyncio.Protocol]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    except ImportError:  # pragma: no cover - httptools is optional in uvicorn
        from uvicorn.protocols.http.h11_impl import H11Protocol as base

    class CountingProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            state.count_connection()
            super().connection_made(transport)

    return CountingProtocol


class _Server(uvicorn.Server):
    """uvicorn's server, but SIGINT/SIGTERM end the CLI cleanly (exit 0) instead of re-raising the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, frame: object) -> None:
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class ModelRedEmulator:
    """The emulator server. ``start()`` serves in a background thread; ``serve_forever()`` in this one."""

    def __init__(
        self,
        api_keys: Sequence[str] = (_DEFAULT_API_KEY,),
        assessment_seconds: float = 2.0,
        scenario: str | Path | dict[str, Any] | None = None,
        free_tier_keys: Iterable[str] = (),
        key_orgs: Mapping[str, Iterable[str]] | None = None,
        max_concurrent: int | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        if isinstance(api_keys, str):
            api_keys = (api_keys,)
        self.state = EmulatorState(
            api_keys, assessment_seconds, scenario, free_tier_keys, key_orgs, max_concurrent
        )
        self.faults = FaultBook()
        self.host = host
        self.allowed_hosts = tuple(allowed_hosts)
        self._requested_port = port
        self._access_log = access_log
        self._sock: socket.socket | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The origin, e.g. ``http://127.0.0.1:PORT`` (no trailing slash, no ``/api``)."""
        if self.port is None:
            raise RuntimeError("The emulator is not started: call .start() (or use it as a context manager)")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        return self.state.api_keys[0]

    def _bind(self) -> socket.socket:
        warning = exposure_warning(self.host)
        if warning:
            log.warning(warning)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError as exc:
            sock.close()
            raise OSError(
                f"Cannot listen on {self.host}:{self._requested_port}: {exc}. Pick another --port "
                "(0 picks a free one)"
            ) from None
        sock.listen(4096)
        self.port = sock.getsockname()[1]
        return sock

    def _make_server(self) -> _Server:
        config = uvicorn.Config(
            build_app(self.state, self.faults, self.allowed_hosts),
            http=_counting_protocol(self.state),
            ws="none",
            lifespan="off",
            log_level="info" if self._access_log else "warning",
            access_log=self._access_log,
            backlog=4096,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        return _Server(config)

    def start(self, timeout: float = 10.0) -> ModelRedEmulator:
        """Serve on ``host`` (a free port unless one was given) in a daemon thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("The emulator is already started")
        self._sock = self._bind()
        self._server = self._make_server()
        sock, server = self._sock, self._server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="modelred-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("The ModelRed emulator did not start")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def serve_forever(self) -> None:
        """Serve in the calling (main) thread until SIGINT/SIGTERM."""
        sock = self._bind()
        print(f"ModelRed emulator listening on {self.url}", flush=True)
        try:
            self._make_server().run(sockets=[sock])
        finally:
            sock.close()

    def __enter__(self) -> ModelRedEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- knobs ------------------------------------------------------------------------------------
    @property
    def assessment_seconds(self) -> float:
        return self.state.assessment_seconds

    @assessment_seconds.setter
    def assessment_seconds(self, value: float) -> None:
        """Duration of assessments created from now on."""
        if value < 0:
            raise ValueError("assessment_seconds must be >= 0")
        self.state.assessment_seconds = float(value)

    def set_scenario(self, scenario: str | Path | dict[str, Any] | None) -> None:
        self.state.set_scenario(scenario)

    # -- faults and counters ---------------------------------------------------------------------
    def inject_fault(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        status: int | None = None,
        count: int | None = 1,
        retry_after: float | None = None,
        stall_seconds: float | None = None,
    ) -> Fault:
        """Arm a fault for the next ``count`` requests matching ``method`` and ``path`` (see faults.py)."""
        return self.faults.add(
            make_fault(
                method,
                path,
                kind=kind,
                status=status,
                count=count,
                retry_after=retry_after,
                stall_seconds=stall_seconds,
            )
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def counts(self) -> dict[str, int]:
        with self.state.lock:
            return dict(self.state.counts)

    def count(self, method: str, route_template: str) -> int:
        with self.state.lock:
            return self.state.counts.get(f"{method.upper()} {route_template}", 0)

    def reset_counts(self) -> None:
        """Reset the route counters and the connection counter."""
        self.state.reset_counts()

    def connections(self) -> int:
        """TCP connections accepted since start (or the last reset): tells whether clients reuse them."""
        return self.state.connections

    # -- assessments, as from the web UI ---------------------------------------------------------
    def complete_assessment(self, assessment_id: str) -> None:
        self.state.force(assessment_id, COMPLETED)

    def fail_assessment(
        self, assessment_id: str, error: str = "Assessment failed (set from the web UI)"
    ) -> None:
        self.state.force(assessment_id, FAILED, error)

    def cancel_assessment(self, assessment_id: str) -> None:
        self.state.force(assessment_id, CANCELLED)

    def created_assessments(self) -> list[str]:
        with self.state.lock:
            return list(self.state.created_ids)


def _parse_key_orgs(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values:
        key, sep, orgs = v.partition("=")
        if not sep or not orgs:
            raise SystemExit(f"--key-org expects KEY=ORG[,ORG...]; got {v!r}")
        out.setdefault(key, []).extend(o for o in orgs.split(",") if o)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modelred_provider.testing.emulator",
        description="Run a local ModelRed API emulator in the foreground (Ctrl-C to stop).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on start)")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"a valid key (repeatable; default {_DEFAULT_API_KEY})",
    )
    parser.add_argument(
        "--free-tier-key",
        action="append",
        default=[],
        metavar="KEY",
        help="a key on the free plan: every API call answers 403 with the plan message",
    )
    parser.add_argument(
        "--key-org",
        action="append",
        default=[],
        metavar="KEY=ORG[,ORG]",
        help="bind a key to organisations (x-organization-id scoping)",
    )
    parser.add_argument(
        "--max-concurrent", type=int, default=None, help="per-key limit on running assessments"
    )
    parser.add_argument(
        "--assessment-seconds",
        type=float,
        default=2.0,
        help="how long an assessment takes from QUEUED to its end (default 2)",
    )
    parser.add_argument("--scenario", default=None, metavar="FILE", help="JSON scenario file (see docs)")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer API requests whose Host header names NAME (repeatable; loopback names and IP "
        "addresses always work; the control API answers loopback names only)",
    )
    args = parser.parse_args(argv)
    try:
        emulator = ModelRedEmulator(
            api_keys=args.api_keys or (_DEFAULT_API_KEY,),
            assessment_seconds=args.assessment_seconds,
            scenario=args.scenario,
            free_tier_keys=args.free_tier_key,
            key_orgs=_parse_key_orgs(args.key_org),
            max_concurrent=args.max_concurrent,
            host=args.host,
            port=args.port,
            access_log=args.access_log,
            allowed_hosts=args.allow_host,
        )
        emulator.serve_forever()
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
