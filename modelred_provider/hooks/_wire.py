"""What both transports share about one request: every decision, so that each transport keeps only its I/O.

The sync (requests) and async (aiohttp) transports differ in how they send and read. What a
redirect is and where it may go (``hooks/connection.py``: same origin, GETs only, at most
:data:`MAX_REDIRECTS`), how large an answer may be, how it becomes a payload (or the typed error of
its status), how a call is retried and the typed error a failed request becomes (its class and its
words) are written here once. Imported only by the transports, so never at DAG parse.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from modelred_provider.api.body import ACCEPT_ENCODING, BodyDecoder, announced_too_large, decode_steps
from modelred_provider.api.errors import ModelRedError, ModelRedTransportError
from modelred_provider.api.parsing import read_payload
from modelred_provider.api.redact import scrub
from modelred_provider.api.retry import deadline_stop, is_retryable_read, tenacity_kwargs
from modelred_provider.hooks.connection import USER_AGENT, not_followed, redirect_target

if TYPE_CHECKING:
    from modelred_provider.api.endpoints import RequestSpec
    from modelred_provider.hooks.connection import ConnectionSettings

#: Redirects one request follows at most.
MAX_REDIRECTS = 3
#: The statuses that redirect (with a Location or not: one without is refused, never read as an answer).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: The headers of every request of either session (the key is not one: it goes per request).
SESSION_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}


class Hops:
    """One request's way to its answer: ``url`` and ``params``, moved by each redirect it follows."""

    def __init__(self, spec: RequestSpec, settings: ConnectionSettings) -> None:
        self.spec = spec
        self.settings = settings
        self.url = settings.origin + spec.path
        self.params: dict[str, str] | None = spec.params
        self.followed = 0

    def redirected(self, status: int, headers: Mapping[str, str]) -> bool:
        """Tell whether the answer redirects; if so, go to its Location (checked by ``redirect_target``)."""
        if status not in REDIRECT_STATUSES:
            return False
        spec = self.spec
        self.url = redirect_target(self.url, headers.get("Location"), spec.operation)
        if not spec.idempotent:
            raise not_followed(spec, self.url)
        self.params = None  # the Location carries its own query
        self.followed += 1
        if self.followed > MAX_REDIRECTS:
            raise ModelRedTransportError(f"more than {MAX_REDIRECTS} redirects", operation=spec.operation)
        return True

    def decoder(self, headers: Mapping[str, str]) -> BodyDecoder:
        """Return the reader of the answer's body, capped (refused at once when it announces more)."""
        cap = self.spec.byte_cap(self.settings.max_response_bytes)
        announced_too_large(headers, cap, self.spec.operation)
        return BodyDecoder(headers.get("Content-Encoding"), cap, self.spec.operation)

    def answer(self, status: int, headers: Mapping[str, str], body: bytes) -> Generator[None, None, Any]:
        """Return the final answer's payload (or raise its typed error), yielding between slices of JSON."""
        decoded = yield from decode_steps(body, self.spec.skip_fields)
        return read_payload(self.spec.operation, status, body, headers, decoded)

    def failed(self, kind: tuple[str, str], reason: str = "", seconds: float = 0.0) -> ModelRedError:
        """Return the typed error of this request's failure of ``kind`` (see :func:`transport_error`)."""
        return transport_error(kind, self.settings, self.spec.operation, reason, seconds)


def retrying(
    settings: ConnectionSettings,
    should_retry: Callable[[BaseException], bool] | None,
    log: Any,
    operation: str,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Return ``tenacity_kwargs`` (reads retried by default); no retry whose wait ends past ``deadline``."""
    kwargs = tenacity_kwargs(settings.retry, should_retry or is_retryable_read, log, operation)
    kwargs["stop"] = kwargs["stop"] | deadline_stop(deadline)
    return kwargs


#: The failures a transport tells apart, each (its words, the error's ``kind``): see :func:`transport_error`.
TLS = (
    "TLS failure talking to {where}: {reason}. If the server uses a private CA, "
    "set the connection extra ca_bundle to its PEM file",
    "tls",
)
CONNECT_TIMEOUT = ("timed out connecting to {where}", "connect")
CONNECT = ("cannot connect to {where}: {reason}", "connect")
READ_TIMEOUT = ("no answer from {where} within {timeout:g} s (the request was sent)", "timeout")
WALL_CLOCK = (
    "no answer from {where} within {seconds:g} s (the request was sent; the wall-clock limit of one request)",
    "timeout",
)
OTHER = ("connection to {where} failed: {reason}", "io")


def transport_error(
    kind: tuple[str, str],
    settings: ConnectionSettings,
    operation: str,
    reason: str = "",
    seconds: float = 0.0,
) -> ModelRedError:
    """Build the typed error of a failed request (never with the key: ``reason`` is scrubbed).

    ``kind`` is one of :data:`TLS`, :data:`CONNECT_TIMEOUT`, :data:`CONNECT` (nothing was sent),
    :data:`READ_TIMEOUT` (sent, no answer within ``timeout``), :data:`WALL_CLOCK` (sent, no answer
    within ``seconds``, the request's wall-clock limit) or :data:`OTHER`.
    """
    words, error_kind = kind
    where, reason = settings.origin, scrub(reason)[:200]
    message = words.format(where=where, reason=reason, seconds=seconds, timeout=settings.timeout)
    return ModelRedTransportError(message, operation=operation, kind=error_kind)
