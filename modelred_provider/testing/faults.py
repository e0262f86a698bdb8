"""Fault injection and per-route counters: an ASGI middleware in front of the API routes.

A fault matches a method (or ``*``) and a request path (a trailing ``*`` matches a prefix) and fires for
the next ``count`` matching requests (``None``: every one). Faults fire in the order they were added.
The control API (``/_emulator/...``) is never faulted nor counted.

Chaos: a scenario's ``"chaos": {"rate": 0.25, "seed": 7}`` (see :class:`Chaos`) also faults that share
of all other ``/api/...`` requests at random (seeded), with a mix of kinds, after any armed fault.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "CHAOS_KINDS",
    "CONTROL_PREFIX",
    "KINDS",
    "ASGIApp",
    "Chaos",
    "ChaosDraw",
    "Fault",
    "FaultBook",
    "FaultMiddleware",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "make_chaos",
    "make_fault",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KINDS = ("status", "stall", "drop", "html", "truncated", "process_then_504")
#: What a chaos draw picks from, each as likely: a 429 with Retry-After, a proxy's 502 page, a 503,
#: a 504 after the request was processed, a dropped connection, a stall past the client's timeout,
#: a truncated 2xx body.
CHAOS_KINDS = ("429", "502", "503", "process_then_504", "drop", "stall", "truncated")
CONTROL_PREFIX = "/_emulator/"

_REASONS = {
    400: ("Bad request", "BAD_REQUEST"),
    401: ("Invalid API key", "UNAUTHORIZED"),
    403: ("Forbidden", "FORBIDDEN"),
    404: ("Not found", "NOT_FOUND"),
    408: ("Request timeout", "REQUEST_TIMEOUT"),
    409: ("Conflict", "CONFLICT"),
    429: ("Too many requests, slow down", "RATE_LIMITED"),
    500: ("Internal server error", "INTERNAL_ERROR"),
    502: ("Bad gateway", "BAD_GATEWAY"),
    503: ("Service unavailable", "SERVICE_UNAVAILABLE"),
    504: ("Gateway timeout", "GATEWAY_TIMEOUT"),
}

_PROXY_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_PROXY_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


@dataclass
class Fault:
    """An injected failure: ``kind`` for requests of ``method`` to ``path`` (``*`` matches any)."""

    method: str
    path: str
    kind: str
    status: int | None = None
    count: int | None = 1
    retry_after: float | None = None
    stall_seconds: float | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method != method:
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def make_fault(
    method: str,
    path: str,
    *,
    kind: str,
    status: int | None = None,
    count: int | None = 1,
    retry_after: float | None = None,
    stall_seconds: float | None = None,
) -> Fault:
    """Validate the arguments of ``inject_fault`` (each message names the problem and the fix)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown fault kind {kind!r}; use one of {', '.join(KINDS)}")
    if not isinstance(method, str) or not method:
        raise ValueError("method must be an HTTP method such as 'GET' or 'POST', or '*' for any")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(
            f"path must be a request path starting with '/', e.g. '/api/assessments'; got {path!r}"
        )
    if path.startswith(CONTROL_PREFIX):
        raise ValueError("The control API (/_emulator/...) cannot be faulted")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"count must be a positive integer (or None for every request); got {count!r}")
    if kind == "status" and status is None:
        raise ValueError("kind='status' needs status=, e.g. 429, 500, 502, 503 or 504")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        raise ValueError(f"status must be an HTTP error status from 400 to 599; got {status!r}")
    if kind == "stall" and not _seconds(stall_seconds):
        raise ValueError("kind='stall' needs stall_seconds= (a number >= 0)")
    if retry_after is not None and not _seconds(retry_after):
        raise ValueError(f"retry_after must be a number of seconds >= 0; got {retry_after!r}")
    return Fault(method.upper(), path, kind, status, count, retry_after, stall_seconds)


@dataclass(frozen=True)
class Chaos:
    """Fault ``rate`` (0..1) of all API requests at random, reproducibly for one ``seed``.

    ``stall_seconds`` should exceed the client's timeout. A stalled GET is answered after the stall; a
    stalled POST/PATCH/DELETE is processed at once and answered after the stall (a server that is slow
    to answer): a request that sits unprocessed past the client's timeout and is then processed after
    the client moved on is a different fault, that the ``stall`` kind of ``inject_fault`` arms.
    """

    rate: float
    seed: int = 0
    stall_seconds: float = 6.0
    retry_after: float = 1.0
    kinds: tuple[str, ...] = CHAOS_KINDS

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kinds": list(self.kinds)}


def make_chaos(spec: Any) -> Chaos | None:
    """Validate a scenario's ``chaos`` object (``None``: no chaos)."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ValueError('chaos must be an object like {"rate": 0.25, "seed": 7}')
    allowed = {"rate", "seed", "stall_seconds", "retry_after", "kinds"}
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"Unknown chaos key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    rate = spec.get("rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ValueError(f"chaos rate must be a number from 0 to 1; got {rate!r}")
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"chaos seed must be an integer; got {seed!r}")
    for name in ("stall_seconds", "retry_after"):
        if name in spec and not _seconds(spec[name]):
            raise ValueError(f"chaos {name} must be a number of seconds >= 0; got {spec[name]!r}")
    kinds = spec.get("kinds", list(CHAOS_KINDS))
    if not isinstance(kinds, list) or not kinds or any(k not in CHAOS_KINDS for k in kinds):
        raise ValueError(f"chaos kinds must be a non-empty list of {', '.join(CHAOS_KINDS)}; got {kinds!r}")
    return Chaos(
        rate=float(rate),
        seed=seed,
        stall_seconds=float(spec.get("stall_seconds", 6.0)),
        retry_after=float(spec.get("retry_after", 1.0)),
        kinds=tuple(kinds),
    )


class ChaosDraw:
    """The seeded random source of one chaos setting: ``draw()`` -> a fault kind or None."""

    def __init__(self, chaos: Chaos) -> None:
        self.chaos = chaos
        self._random = random.Random(chaos.seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        with self._lock:
            hit = self._random.random() < self.chaos.rate
            kind = self._random.choice(self.chaos.kinds)
        return kind if hit else None

    def fault(self, kind: str, method: str, path: str) -> Fault:
        c = self.chaos
        if kind == "429":
            return Fault(method, path, "status", 429, 1, c.retry_after)
        if kind == "502":
            return Fault(method, path, "html", 502)
        if kind == "503":
            return Fault(method, path, "status", 503)
        if kind == "stall":
            return Fault(method, path, "stall", stall_seconds=c.stall_seconds)
        return Fault(method, path, kind)


class FaultBook:
    """The queue of armed faults (thread-safe: armed from the test thread, consumed on the loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return [Fault(**f.to_dict()) for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        if not self._faults:  # fast path, no lock: the common case under load
            return None
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            del self._faults[i]
                    return fault
        return None


async def _send_bytes(
    send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _run_captured(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, bytes]:
    """Run the real handler but keep its answer (for ``truncated`` and ``process_then_504``)."""
    status = 500
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return status, b"".join(chunks)


async def _drop(send: Send) -> None:
    """Close the TCP connection without any HTTP answer.

    ASGI has no "abort" message, so this reaches the transport of uvicorn's request cycle (the ``send``
    callable is a bound method of it) and aborts it. Only works directly under uvicorn.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("The 'drop' fault needs the emulator to run under uvicorn")
    transport.abort()
    # Let connection_lost run so uvicorn sees the disconnect and does not try to answer 500.
    for _ in range(3):
        await asyncio.sleep(0)
    if cycle is not None and hasattr(cycle, "disconnected"):
        cycle.disconnected = True


class FaultMiddleware:
    """Counts each API request under its route template, then applies the first matching fault."""

    def __init__(
        self, app: ASGIApp, book: FaultBook, route_of: Callable[[str, str], str], count: Callable[[str], None]
    ) -> None:
        self.app = app
        self.book = book
        self.route_of = route_of
        self.count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        self.count(f"{method} {self.route_of(method, path)}")
        fault = self.book.take(method, path)
        if fault is None and path.startswith("/api/"):
            fault = self._chaos_fault(method, path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        await self.apply(fault, scope, receive, send)

    def _chaos_fault(self, method: str, path: str) -> Fault | None:
        """Draw a random fault when the emulator's scenario sets ``chaos`` (counted as ``chaos <kind>``)."""
        state = getattr(getattr(self.app, "state", None), "emulator", None)
        draw: ChaosDraw | None = getattr(state, "chaos", None)
        if draw is None:
            return None
        kind = draw.draw()
        if kind is None:
            return None
        self.count(f"chaos {kind}")
        fault = draw.fault(kind, method, path)
        if fault.kind == "stall" and method != "GET":
            fault.kind = "late"  # processed now, answered after the stall (see Chaos)
        return fault

    async def apply(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        extra: list[tuple[bytes, bytes]] = []
        if fault.retry_after is not None:
            ra = fault.retry_after
            extra.append((b"retry-after", str(int(ra) if float(ra).is_integer() else ra).encode()))
        if fault.kind == "status":
            status = fault.status or 500
            message, code = _REASONS.get(status, (f"HTTP {status}", f"HTTP_{status}"))
            body = json.dumps({"error": message, "code": code, "details": {"injected": True}}).encode()
            await _send_bytes(send, status, body, "application/json", extra)
        elif fault.kind == "stall":
            await asyncio.sleep(fault.stall_seconds or 0)
            await self.app(scope, receive, send)
        elif fault.kind == "late":  # chaos only: process, then answer after the stall
            status, body = await _run_captured(self.app, scope, receive)
            await asyncio.sleep(fault.stall_seconds or 0)
            await _send_bytes(send, status, body, "application/json", extra)
        elif fault.kind == "drop":
            await _drop(send)
        elif fault.kind == "html":
            status = fault.status or 502
            reason = _PROXY_REASONS.get(status, "Error")
            page = _PROXY_PAGE.format(status=status, reason=reason).encode()
            await _send_bytes(send, status, page, "text/html", extra)
        elif fault.kind == "truncated":
            _, body = await _run_captured(self.app, scope, receive)
            cut = body[: max(1, len(body) // 2)] if len(body) > 1 else b"{"
            await _send_bytes(send, fault.status or 200, cut, "application/json", extra)
        elif fault.kind == "process_then_504":
            await _run_captured(self.app, scope, receive)
            body = json.dumps(
                {"error": "Gateway timeout", "code": "GATEWAY_TIMEOUT", "details": {"injected": True}}
            ).encode()
            await _send_bytes(send, fault.status or 504, body, "application/json", extra)
