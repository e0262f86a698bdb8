"""The async transport: aiohttp, one ``ClientSession`` shared by the hooks of one connection in a loop.

A triggerer may run a thousand ModelRed triggers at once; each poll should reuse a pooled keep-alive
connection instead of building a session (and TLS context) per poll. Sessions are shared per
(event loop, origin, TLS settings, timeout), reference-counted and closed by the last user. The API
key never goes on the session: it travels in per-request headers.

Imported only from the hook's async methods (aiohttp costs ~130 ms to import; never at DAG parse).

Sessions run with ``trust_env=False``: with it aiohttp reads ``~/.netrc`` (in a thread) on every request,
and a netrc entry for the ModelRed host makes it refuse our ``Authorization`` header with a bare
``ValueError``. The proxy variables (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) are read once per
transport instead, so proxies keep working.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import tenacity

from modelred_provider.api.endpoints import RequestSpec
from modelred_provider.api.errors import (
    ModelRedConnectError,
    ModelRedTimeoutError,
    ModelRedTLSError,
    ModelRedTransportError,
)
from modelred_provider.api.parsing import read_payload
from modelred_provider.api.retry import is_retryable_read, tenacity_kwargs
from modelred_provider.hooks.connection import USER_AGENT, ConnectionSettings, not_followed, redirect_target

MAX_REDIRECTS = 3
#: Connections one shared session keeps open at most (bounded: a thousand triggers share them).
POOL_LIMIT = 100


@dataclass
class _Shared:
    session: aiohttp.ClientSession
    users: int = 0


# loop -> pool key -> shared session. Weak on the loop so a finished loop does not pin its sessions.
_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], _Shared]] = (
    weakref.WeakKeyDictionary()
)


def _ssl_option(settings: ConnectionSettings) -> ssl.SSLContext | bool:
    if not settings.verify_ssl:
        return False
    if settings.ca_bundle:
        try:
            return ssl.create_default_context(cafile=settings.ca_bundle)
        except (OSError, ssl.SSLError) as err:
            raise ModelRedTLSError(f"cannot load the CA bundle {settings.ca_bundle!r}: {err}") from None
    return True


def _new_session(settings: ConnectionSettings) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=POOL_LIMIT, ssl=_ssl_option(settings), ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=settings.timeout, sock_connect=settings.timeout)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        trust_env=False,  # see the module docstring; proxies come from env_proxy()
    )


def env_proxy(origin: str) -> tuple[str | None, dict[str, str] | None]:
    """The proxy the environment sets for ``origin`` (and its ``Proxy-Authorization`` header), or None.

    Only environment variables are read (no file), so this is safe on the event loop.
    """
    parts = urlsplit(origin)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme)
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed
    if not proxy or bypass(parts.netloc, proxies):
        return None, None
    proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if proxy_parts.username is None:
        return proxy_parts.geturl(), None
    bare = proxy_parts._replace(netloc=proxy_parts.netloc.rpartition("@")[2]).geturl()
    auth = aiohttp.BasicAuth(unquote(proxy_parts.username), unquote(proxy_parts.password or ""))
    return bare, {"Proxy-Authorization": auth.encode()}


def acquire_session(settings: ConnectionSettings) -> aiohttp.ClientSession:
    """The shared session of these settings in the running loop; pair with :func:`release_session`."""
    loop = asyncio.get_running_loop()
    per_loop = _SESSIONS.setdefault(loop, {})
    shared = per_loop.get(settings.pool_key)
    if shared is None or shared.session.closed:
        shared = per_loop[settings.pool_key] = _Shared(_new_session(settings))
    shared.users += 1
    return shared.session


async def release_session(settings: ConnectionSettings, session: aiohttp.ClientSession) -> None:
    """Drop one user of the shared session; the last one closes it."""
    loop = asyncio.get_running_loop()
    per_loop = _SESSIONS.get(loop, {})
    shared = per_loop.get(settings.pool_key)
    if shared is None or shared.session is not session:
        if not session.closed:
            await session.close()
        return
    shared.users -= 1
    if shared.users <= 0:
        del per_loop[settings.pool_key]
        await session.close()


def open_sessions() -> int:
    """How many shared sessions are open in the running loop (for tests and diagnostics)."""
    return sum(1 for s in _SESSIONS.get(asyncio.get_running_loop(), {}).values() if not s.session.closed)


def translate_error(error: BaseException, settings: ConnectionSettings, operation: str) -> Exception:
    where = settings.origin
    if isinstance(error, aiohttp.ClientSSLError):
        return ModelRedTLSError(
            f"TLS failure talking to {where}: {error}. If the server uses a private CA, "
            "set the connection extra ca_bundle to its PEM file",
            operation=operation,
        )
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return ModelRedConnectError(f"timed out connecting to {where}", operation=operation)
    if isinstance(error, aiohttp.ClientConnectorError):
        reason = error.os_error.strerror if error.os_error and error.os_error.strerror else str(error)
        return ModelRedConnectError(f"cannot connect to {where}: {reason}", operation=operation)
    if isinstance(error, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return ModelRedTimeoutError(
            f"no answer from {where} within {settings.timeout:g} s (the request was sent)",
            operation=operation,
        )
    return ModelRedTransportError(
        f"connection to {where} failed: {type(error).__name__} {str(error)[:200]}", operation=operation
    )


class AsyncTransport:
    """Sends :class:`RequestSpec` s over a shared aiohttp session held until :meth:`aclose`."""

    def __init__(self, settings: ConnectionSettings, log: Any) -> None:
        self.settings = settings
        self.log = log
        self._session: aiohttp.ClientSession | None = None
        self._proxy, self._proxy_headers = env_proxy(settings.origin)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = acquire_session(self.settings)
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await release_session(self.settings, session)

    async def send_once(self, spec: RequestSpec) -> Any:
        settings = self.settings
        url = settings.origin + spec.path
        params: dict[str, str] | None = spec.params
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with self.session.request(
                    spec.method,
                    url,
                    params=params,
                    json=spec.json,
                    headers=settings.headers(spec.api_generation),
                    allow_redirects=False,
                    proxy=self._proxy,
                    proxy_headers=self._proxy_headers,
                ) as response:
                    body = await response.read()
                    status, headers = response.status, dict(response.headers)
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                raise translate_error(err, settings, spec.operation) from None
            if status in (301, 302, 303, 307, 308):
                url = redirect_target(url, headers.get("Location"), spec.operation)
                if not spec.idempotent:
                    raise not_followed(spec, url)
                params = None
                continue
            text = body.decode("utf-8", "replace")
            if settings.api_key in text:
                text = text.replace(settings.api_key, "***")
            return read_payload(spec.operation, status, text, headers)
        raise ModelRedTransportError(f"more than {MAX_REDIRECTS} redirects", operation=spec.operation)

    async def call(
        self, spec: RequestSpec, should_retry: Callable[[BaseException], bool] | None = None
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
            return await self.send_once(spec)
        except Exception as error:
            if not predicate(error):
                raise
            first_error: Exception = error
        replayed = False

        async def attempt(spec: RequestSpec) -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                raise first_error
            return await self.send_once(spec)

        def from_first_attempt(state: tenacity.RetryCallState) -> None:
            if state.attempt_number == 1:
                state.start_time = started

        retrying = tenacity.AsyncRetrying(
            before=from_first_attempt,
            **tenacity_kwargs(self.settings.retry, predicate, self.log, spec.operation),
        )
        return await retrying(attempt, spec)
