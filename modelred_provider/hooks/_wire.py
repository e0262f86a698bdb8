"""What both transports share about one request: following its redirects, and naming its failure.

The sync (requests) and async (aiohttp) transports differ in how they send and read; the rules of a
redirect (``hooks/connection.py``: same origin, GETs only, at most :data:`MAX_REDIRECTS`) and the typed
error a failure becomes (its class and its words) are written here once. Imported only by the
transports, so never at DAG parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelred_provider.api.errors import (
    ModelRedError,
    ModelRedTransportError,
)
from modelred_provider.api.redact import scrub
from modelred_provider.hooks.connection import not_followed, redirect_target

if TYPE_CHECKING:
    from modelred_provider.api.endpoints import RequestSpec
    from modelred_provider.hooks.connection import ConnectionSettings

#: Redirects one request follows at most.
MAX_REDIRECTS = 3
#: The statuses that redirect.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class Hops:
    """Where one request goes next: ``url`` and ``params``, moved by each redirect it follows."""

    def __init__(self, spec: RequestSpec, origin: str) -> None:
        self.spec = spec
        self.url = origin + spec.path
        self.params: dict[str, str] | None = spec.params
        self.followed = 0

    def follow(self, location: str | None) -> None:
        """Follow a redirect: go to ``location`` (checked by ``redirect_target``), or raise."""
        spec = self.spec
        self.url = redirect_target(self.url, location, spec.operation)
        if not spec.idempotent:
            raise not_followed(spec, self.url)
        self.params = None  # the Location carries its own query
        self.followed += 1
        if self.followed > MAX_REDIRECTS:
            raise ModelRedTransportError(f"more than {MAX_REDIRECTS} redirects", operation=spec.operation)


#: The kinds of failure a transport tells apart (see :func:`transport_error`).
TLS, CONNECT_TIMEOUT, CONNECT, READ_TIMEOUT, WALL_CLOCK, OTHER = (
    "tls",
    "connect_timeout",
    "connect",
    "read_timeout",
    "wall_clock",
    "other",
)


def transport_error(
    kind: str, settings: ConnectionSettings, operation: str, reason: str = "", seconds: float | None = None
) -> ModelRedError:
    """Build the typed error of a failed request (never with the key: ``reason`` is scrubbed).

    ``kind`` is one of :data:`TLS`, :data:`CONNECT_TIMEOUT`, :data:`CONNECT` (nothing was sent),
    :data:`READ_TIMEOUT` (sent, no answer within ``timeout``), :data:`WALL_CLOCK` (sent, no answer
    within ``seconds``, the request's wall-clock limit) or :data:`OTHER`.
    """
    where = settings.origin
    reason = scrub(reason)[:200]
    if kind == TLS:
        return ModelRedTransportError(
            f"TLS failure talking to {where}: {reason}. If the server uses a private CA, "
            "set the connection extra ca_bundle to its PEM file",
            operation=operation,
            kind="tls",
        )
    if kind == CONNECT_TIMEOUT:
        return ModelRedTransportError(f"timed out connecting to {where}", operation=operation, kind="connect")
    if kind == CONNECT:
        return ModelRedTransportError(
            f"cannot connect to {where}: {reason}", operation=operation, kind="connect"
        )
    if kind == WALL_CLOCK:
        return ModelRedTransportError(
            f"no answer from {where} within {seconds:g} s (the request was sent; "
            "the wall-clock limit of one request)",
            operation=operation,
            kind="timeout",
        )
    if kind == READ_TIMEOUT:
        return ModelRedTransportError(
            f"no answer from {where} within {settings.timeout:g} s (the request was sent)",
            operation=operation,
            kind="timeout",
        )
    return ModelRedTransportError(f"connection to {where} failed: {reason}", operation=operation)
