"""The async transport: aiohttp, one ``ClientSession`` shared by the hooks of one connection in a loop.

A triggerer may run a thousand ModelRed triggers at once; each poll should reuse a pooled keep-alive
connection instead of building a session (and TLS context) per poll. Sessions are shared per
(event loop, origin, TLS settings, timeout, proxy), reference-counted and closed by the last user.
The API key never goes on the session: it travels in per-request headers.

Imported only from the hook's async methods, in a worker thread (aiohttp costs ~130 ms to import:
never on the event loop, never at DAG parse).

Bounds, the same as the sync transport's:

* **Pool wait apart from the request.** A request first waits for one of the session's
  :data:`POOL_LIMIT` slots, at most :data:`POOL_WAIT_SECONDS` (clipped to the caller's deadline); a
  request that got none was never sent (a :class:`ModelRedTransportError` of kind ``connect``, safe to
  resend). Only then
  does its wall-clock limit (``timeout``, clipped to the deadline) start: connect, send, headers and
  body, as one ``asyncio.timeout``.
* **Size and loop time.** aiohttp's decompression is off; the body is decoded by
  :class:`~modelred_provider.api.body.BodyDecoder` (capped) and parsed by
  :func:`~modelred_provider.api.body.decode_steps`, handing the loop back between slices.
* **Environment.** ``trust_env=False`` (with it aiohttp reads ``~/.netrc`` in a thread on every
  request, and a netrc entry for the ModelRed host makes it refuse our ``Authorization`` header); the
  CA bundle and the proxy come from the settings, by the rule both transports share.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import aiohttp
import tenacity

from modelred_provider.api.body import READ_CHUNK_BYTES
from modelred_provider.api.errors import ModelRedError, ModelRedTransportError
from modelred_provider.api.retry import is_retryable_read, time_left
from modelred_provider.hooks import _wire

if TYPE_CHECKING:
    from modelred_provider.api.endpoints import RequestSpec
    from modelred_provider.hooks.connection import ConnectionSettings

#: Connections one shared session keeps open at most (bounded: a thousand triggers share them).
POOL_LIMIT = 100


#: The longest a request waits for a free pooled connection before giving up unsent (seconds).
POOL_WAIT_SECONDS = 120.0


@dataclass
class _Shared:
    session: aiohttp.ClientSession
    slots: asyncio.Semaphore
    users: int = 0


# loop -> pool key -> shared session. Weak on the loop so a finished loop does not pin its sessions.
_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], _Shared]] = (
    weakref.WeakKeyDictionary()
)


def _ssl_option(settings: ConnectionSettings) -> ssl.SSLContext | bool:
    verify = settings.verify
    if verify is False:
        return False
    try:
        return ssl.create_default_context(cafile=str(verify))
    except (OSError, ssl.SSLError) as err:
        raise ModelRedTransportError(f"cannot load the CA bundle {verify!r}: {err}", kind="tls") from None


def _new_session(settings: ConnectionSettings) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=POOL_LIMIT, ssl=_ssl_option(settings), ttl_dns_cache=300),
        # Only the socket connect is timed by aiohttp; the request's wall clock is ours (send_once).
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=settings.timeout),
        headers=_wire.SESSION_HEADERS,
        auto_decompress=False,
        trust_env=False,  # see the module docstring
    )


def proxy_and_auth(proxy: str | None) -> tuple[str | None, dict[str, str] | None]:
    """Move the proxy's credentials from its URL to a header, as aiohttp wants them."""
    if not proxy:
        return None, None
    proxy_parts = urlsplit(proxy)
    if proxy_parts.username is None:
        return proxy_parts.geturl(), None
    bare = proxy_parts._replace(netloc=proxy_parts.netloc.rpartition("@")[2]).geturl()
    auth = aiohttp.BasicAuth(unquote(proxy_parts.username), unquote(proxy_parts.password or ""))
    return bare, {"Proxy-Authorization": auth.encode()}


def acquire_session(settings: ConnectionSettings) -> aiohttp.ClientSession:
    """Return the shared session of these settings in the running loop; pair with :func:`release_session`."""
    per_loop = _SESSIONS.setdefault(asyncio.get_running_loop(), {})
    shared = per_loop.get(settings.pool_key)
    if shared is None or shared.session.closed:
        shared = per_loop[settings.pool_key] = _Shared(_new_session(settings), asyncio.Semaphore(POOL_LIMIT))
    shared.users += 1
    return shared.session


def _shared(settings: ConnectionSettings, session: aiohttp.ClientSession) -> _Shared | None:
    """Return the running loop's shared entry of ``session`` (None: not, or no longer, a shared one)."""
    shared = _SESSIONS.get(asyncio.get_running_loop(), {}).get(settings.pool_key)
    return shared if shared is not None and shared.session is session else None


async def release_session(settings: ConnectionSettings, session: aiohttp.ClientSession) -> None:
    """Drop one user of the shared session; the last one closes it."""
    shared = _shared(settings, session)
    if shared is not None:
        shared.users -= 1
        if shared.users > 0:
            return
        del _SESSIONS[asyncio.get_running_loop()][settings.pool_key]
    if not session.closed:
        await session.close()


def open_sessions() -> int:
    """How many shared sessions are open in the running loop (for tests and diagnostics)."""
    return sum(1 for s in _SESSIONS.get(asyncio.get_running_loop(), {}).values() if not s.session.closed)


def translate_error(error: BaseException, hops: _wire.Hops) -> ModelRedError:
    """Translate aiohttp's failures to our typed transport error (the words: ``_wire.transport_error``)."""
    if isinstance(error, aiohttp.ClientSSLError):
        return hops.failed(_wire.TLS, str(error))
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return hops.failed(_wire.CONNECT_TIMEOUT)
    if isinstance(error, aiohttp.ClientConnectorError):
        reason = error.os_error.strerror if error.os_error and error.os_error.strerror else str(error)
        return hops.failed(_wire.CONNECT, reason)
    if isinstance(error, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return hops.failed(_wire.READ_TIMEOUT)
    return hops.failed(_wire.OTHER, f"{type(error).__name__} {error}")


class AsyncTransport:
    """Sends :class:`RequestSpec` s over a shared aiohttp session held until :meth:`aclose`."""

    def __init__(self, settings: ConnectionSettings, log: Any) -> None:
        self.settings = settings
        self.log = log
        self._session: aiohttp.ClientSession | None = None
        self._proxy, self._proxy_headers = proxy_and_auth(settings.proxy)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = acquire_session(self.settings)
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await release_session(self.settings, session)

    async def send_once(self, spec: RequestSpec, deadline: float | None = None) -> Any:
        """One request (following same-origin redirects of a GET): the decoded payload or a typed error.

        ``deadline`` (epoch seconds) clips both the wait for a pooled connection and the request's
        wall-clock limit.
        """
        hops = _wire.Hops(spec, self.settings)
        while True:
            session = self.session
            shared = _shared(self.settings, session)
            if shared is not None:
                await self._take_slot(shared.slots, spec.operation, deadline)
            try:
                answer = await self._exchange(session, hops, deadline)
            finally:
                if shared is not None:
                    shared.slots.release()
            if answer is not None:
                return await _run(answer)

    async def _take_slot(self, slots: asyncio.Semaphore, operation: str, deadline: float | None) -> None:
        wait = POOL_WAIT_SECONDS if deadline is None else min(POOL_WAIT_SECONDS, deadline - time.time())
        try:
            async with asyncio.timeout(max(0.0, wait)):
                await slots.acquire()
        except TimeoutError:
            raise ModelRedTransportError(
                f"not sent: no free connection to {self.settings.origin} within {max(0.0, wait):.0f} s "
                f"({POOL_LIMIT} requests of this connection were in flight)",
                operation=operation,
                kind="connect",
            ) from None

    async def _exchange(
        self, session: aiohttp.ClientSession, hops: _wire.Hops, deadline: float | None
    ) -> Generator[None, None, Any] | None:
        """Send and read the whole (bounded) body within the request's wall-clock limit (None: redirected)."""
        spec, settings = hops.spec, self.settings
        limit = time_left(settings.timeout, deadline, spec.operation)
        try:
            async with asyncio.timeout(limit):
                async with session.request(
                    spec.method,
                    hops.url,
                    params=hops.params,
                    json=spec.json,
                    headers=settings.headers(spec.api_generation),
                    allow_redirects=False,
                    proxy=self._proxy,
                    proxy_headers=self._proxy_headers,
                ) as response:
                    # aiohttp's own mapping: header names are case-insensitive (a dict is not)
                    status, headers = response.status, response.headers
                    if hops.redirected(status, headers):
                        return None
                    decoder = hops.decoder(headers)
                    async for chunk in response.content.iter_chunked(READ_CHUNK_BYTES):
                        decoder.feed(chunk)
                    return hops.answer(status, headers, decoder.finish())
        except ModelRedError:
            raise
        except TimeoutError:
            raise hops.failed(_wire.WALL_CLOCK, seconds=limit) from None
        except Exception as err:  # aiohttp's errors, and anything a hostile answer provokes in it
            raise translate_error(err, hops) from None

    async def call(
        self,
        spec: RequestSpec,
        should_retry: Callable[[BaseException], bool] | None = None,
        *,
        deadline: float | None = None,
    ) -> Any:
        """Send ``spec``; transient failures are retried by the shared rules (``api/retry.py``).

        Fast path: the first attempt is sent directly, so a healthy request (a trigger's poll) builds no
        ``tenacity.AsyncRetrying``. A failure the predicate refuses is raised at once, as before. A
        retryable one hands over to the unchanged retry loop *as its first attempt* (the error is
        replayed, not re-sent; the total time budget counts from the real first attempt), so the
        attempts, waits, ``Retry-After`` and log lines are exactly those of the loop alone.
        """
        predicate = should_retry or is_retryable_read
        started = time.monotonic()
        try:
            return await self.send_once(spec, deadline)
        except Exception as error:
            if not predicate(error):
                raise
            replay = [error]

        async def attempt(spec: RequestSpec) -> Any:
            if replay:
                raise replay.pop()
            return await self.send_once(spec, deadline)

        def from_first_attempt(state: tenacity.RetryCallState) -> None:
            if state.attempt_number == 1:
                state.start_time = started

        rules = _wire.retrying(self.settings, predicate, self.log, spec.operation, deadline)
        return await tenacity.AsyncRetrying(before=from_first_attempt, **rules)(attempt, spec)


async def _run(steps: Generator[None, None, Any]) -> Any:
    """Run :meth:`_wire.Hops.answer` to its end, handing the loop back between slices of a large answer."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await asyncio.sleep(0)
