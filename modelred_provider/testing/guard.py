"""Checks in front of every emulator route, before any handler, fault or counter sees the request.

The control API (``/_emulator/...``) needs no key, so a web page the developer visits must not be able to
drive it: a cross-site ``POST`` with a "simple" content type (``text/plain``, a form) needs no CORS
preflight, and DNS rebinding lets a page's own host name resolve to 127.0.0.1. Hence:

- every request needs a ``Host`` header naming loopback (127.0.0.0/8, ``[::1]``, ``localhost``; any port),
  else 403 ``HOST_NOT_ALLOWED``. On the API routes an IP literal or a name given in ``allowed_hosts``
  (``--allow-host``) is accepted too: rebinding needs a DNS name the attacker controls, and those routes
  need a key. The control API takes loopback names only;
- ``POST``/``PUT``/``PATCH`` on the control API need ``Content-Type: application/json`` (a browser cannot
  send that cross-site without a preflight, which the emulator never grants), else 415
  ``UNSUPPORTED_MEDIA_TYPE``;
- a request body may not exceed ``max_body`` bytes (1 MiB): a larger ``Content-Length`` is refused with 413
  ``PAYLOAD_TOO_LARGE`` before any byte of the body is read, and a chunked body is cut off (413) as soon as it
  grows past the cap. Either way the connection is closed rather than drained.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any

from modelred_provider.testing.errors import ApiError
from modelred_provider.testing.faults import CONTROL_PREFIX, ASGIApp, Message, Receive, Scope, Send

__all__ = ["GuardMiddleware", "is_loopback_name"]

_MAX_BODY_BYTES = 1024 * 1024
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CLOSE = {"connection": "close"}


def _bare(name: str) -> str:
    """Normalise a host name to compare case-insensitively, without IPv6 brackets or a trailing dot."""
    name = name.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name[:-1] if name.endswith(".") else name


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(_bare(name))
    except ValueError:
        return None


def is_loopback_name(name: str) -> bool:
    """``localhost``, an address in 127.0.0.0/8 or ``::1`` (bracketed or not); ``0.0.0.0``/``""`` are not."""
    if _bare(name) == "localhost":
        return True
    ip = _ip(name)
    return ip is not None and ip.is_loopback


def _host_of(header: str) -> str | None:
    """Return the name part of a ``Host`` header value (``[::1]:8765`` -> ``[::1]``); None if malformed."""
    header = header.strip()
    if header.startswith("["):
        end = header.find("]")
        if end < 0:
            return None
        name, rest = header[: end + 1], header[end + 1 :]
    else:
        name, sep, port = header.partition(":")
        rest = sep + port
    if rest and not (rest[0] == ":" and rest[1:].isdigit()):
        return None
    return name or None


def _error(status: int, message: str, code: str, details: Any = None) -> ApiError:
    return ApiError(status, message, code, details, headers=dict(_CLOSE) if status == 413 else None)


class GuardMiddleware:
    """Host, content type and body size checks (see the module docstring), outermost in the app."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: Iterable[str] = (), max_body: int = _MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.allowed_hosts = frozenset(_bare(h) for h in allowed_hosts)
        self.max_body = max_body

    def refusal(self, scope: Scope) -> ApiError | None:
        control = scope["path"].startswith(CONTROL_PREFIX)
        headers: dict[bytes, list[bytes]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.lower(), []).append(value)

        hosts = headers.get(b"host", [])
        host = _host_of(hosts[0].decode("latin-1")) if len(hosts) == 1 else None
        if host is None or not (
            is_loopback_name(host)
            or (not control and (_ip(host) is not None or _bare(host) in self.allowed_hosts))
        ):
            where = "the control API" if control else "the emulator"
            return _error(
                403,
                f"Host header {b', '.join(hosts).decode('latin-1')!r} refused: {where} answers only requests "
                "addressed to a loopback host (127.0.0.1, [::1] or localhost)"
                + ("" if control else ", an IP address, or a name given with --allow-host"),
                "HOST_NOT_ALLOWED",
            )

        lengths = headers.get(b"content-length", [])
        if lengths:
            try:
                length = max(int(v) for v in lengths)
            except ValueError:
                return _error(400, "Content-Length is not a number", "BAD_REQUEST")
            if length > self.max_body:
                return self._too_large(length)

        if control and scope["method"] in _WRITE_METHODS:
            types = headers.get(b"content-type", [])
            media = types[0].decode("latin-1").split(";")[0].strip().lower() if len(types) == 1 else ""
            if media != "application/json":
                return _error(
                    415,
                    f"The control API takes only Content-Type: application/json on {scope['method']} "
                    f"(got {media or 'none'})",
                    "UNSUPPORTED_MEDIA_TYPE",
                )
        return None

    def _too_large(self, length: int | None) -> ApiError:
        return _error(
            413,
            f"Request body larger than {self.max_body} bytes",
            "PAYLOAD_TOO_LARGE",
            {"limit": self.max_body, **({"contentLength": length} if length is not None else {})},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is not None:
            await _answer(send, refused)
            return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    # Raised into the handler that reads the body: answered by the app's ApiError handler.
                    raise self._too_large(None)
            return message

        await self.app(scope, capped_receive, send)


async def _answer(send: Send, exc: ApiError) -> None:
    body = json.dumps(exc.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (exc.headers or {}).items()]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
