"""The sync transport: one ``requests.Session`` per hook, the shared retry rules via tenacity.

``requests`` is imported here only, and this module only when a sync call runs, so importing the
hook (at DAG parse time) costs neither requests nor aiohttp.

Bounds (the same as the async transport's, from the same settings):

* **Wall clock per request.** ``requests``' timeout is per socket read, so a server dripping a byte
  at a time could hold a call for ever. A watchdog timer shuts the request's socket down when
  ``timeout`` (clipped to the caller's deadline) has passed since the request started; the
  connection classes of the session's pools register their sockets with it (:class:`_Watch`).
* **Size.** Bodies are streamed without requests' decompression and decoded by
  :class:`~modelred_provider.api.body.BodyDecoder`, which stops at ``max_response_bytes``.
* **Environment.** ``trust_env`` is off: the CA bundle and the proxy come from the settings, which
  read the environment by one rule for both transports (``hooks/connection.py``). That also stops
  requests from replacing our key with a ``~/.netrc`` login.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError, ReadTimeoutError

from modelred_provider.api.body import READ_CHUNK_BYTES, run_steps
from modelred_provider.api.errors import ModelRedError
from modelred_provider.api.retry import time_left
from modelred_provider.hooks import _wire

if TYPE_CHECKING:
    from modelred_provider.api.endpoints import RequestSpec
    from modelred_provider.hooks.connection import ConnectionSettings

# --------------------------------------------------------------------------- the wall-clock watchdog

_current = threading.local()


class _Watch:
    """Shuts down the sockets of one request once its wall-clock limit has passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if not self.fired:
                return
        _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def __enter__(self) -> _Watch:
        _current.watch = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        _current.watch = None


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _attach(sock: Any) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None and isinstance(sock, socket.socket):
        watch.attach(sock)


class _WatchedMixin:
    """Registers the connection's socket with the running request's watchdog (new or kept-alive)."""

    sock: Any

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _attach(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> Any:
        _attach(self.sock)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(HTTPAdapter):
    """An adapter whose pools (direct or through a proxy) use the watched connection classes."""

    _pools = {"http": _Pool, "https": _TLSPool}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._pools)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(self._pools)
        return manager


# --------------------------------------------------------------------------- errors


def _chain(error: BaseException) -> list[BaseException]:
    """List the error and all nested in it (causes, contexts, urllib3 ``reason``, args), outermost first."""
    found: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop(0)
        if any(current is known for known in found):
            continue
        found.append(current)
        nested = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        pending.extend(n for n in nested if isinstance(n, BaseException))
    return found


def _reason(error: BaseException) -> str:
    root = _chain(error)[-1]
    text = getattr(root, "strerror", None) or str(root)
    return text or type(root).__name__


#: A connection never made (refused, DNS, unreachable): nothing was sent.
_NEVER_SENT = (NewConnectionError, NameResolutionError, ConnectionRefusedError)


def translate_error(error: BaseException, hops: _wire.Hops, watch: _Watch) -> ModelRedError:
    """Any failure of a request -> our typed transport error (the words: ``_wire.transport_error``)."""
    if watch.fired:
        return hops.failed(_wire.WALL_CLOCK, seconds=watch.seconds)
    if isinstance(error, requests.exceptions.SSLError):
        return hops.failed(_wire.TLS, _reason(error))
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return hops.failed(_wire.CONNECT_TIMEOUT)
    never_sent = any(isinstance(nested, _NEVER_SENT) for nested in _chain(error))
    if isinstance(error, requests.exceptions.ConnectionError) and never_sent:
        return hops.failed(_wire.CONNECT, _reason(error))
    if isinstance(error, requests.exceptions.Timeout | ReadTimeoutError):
        return hops.failed(_wire.READ_TIMEOUT)
    return hops.failed(_wire.OTHER, f"{type(error).__name__}: {_reason(error)}")


# --------------------------------------------------------------------------- the transport


class SyncTransport:
    """Sends :class:`RequestSpec` s with one keep-alive session."""

    def __init__(self, settings: ConnectionSettings, log: Any) -> None:
        self.settings = settings
        self.log = log
        self.session = requests.Session()
        self.session.trust_env = False  # the environment is read once, by connection.py's rule
        self.session.verify = settings.verify
        self.session.proxies = {"http": settings.proxy, "https": settings.proxy} if settings.proxy else {}
        adapter = _Adapter(max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(_wire.SESSION_HEADERS)
        if not settings.verify_ssl:
            log.warning("ModelRed: TLS verification is off for %s (verify_ssl=false)", settings.origin)

    def close(self) -> None:
        self.session.close()

    def send_once(self, spec: RequestSpec, deadline: float | None = None) -> Any:
        """One request (following same-origin redirects of a GET): the decoded payload or a typed error.

        ``deadline`` (epoch seconds): the request's wall-clock limit is clipped to the time left.
        """
        hops = _wire.Hops(spec, self.settings)
        while True:
            limit = time_left(self.settings.timeout, deadline, spec.operation)
            with _Watch(limit) as watch:
                try:
                    with self._send(hops, limit) as response:
                        status, headers = response.status_code, response.headers
                        if hops.redirected(status, headers):
                            continue
                        decoder = hops.decoder(headers)
                        for chunk in response.raw.stream(READ_CHUNK_BYTES, decode_content=False):
                            decoder.feed(chunk)
                        body = decoder.finish()
                except ModelRedError:
                    raise
                except Exception as err:  # requests', urllib3's, the socket's; what a hostile answer provokes
                    raise translate_error(err, hops, watch) from None
            return run_steps(hops.answer(status, headers, body))

    def _send(self, hops: _wire.Hops, limit: float) -> requests.Response:
        """Send straight to the adapter.

        ``Session.send`` would parse a redirect's Location itself (to offer ``response.next``), with its
        own parser and errors, before :func:`redirect_target` decides, and keep cookies a server sets.
        """
        spec, settings = hops.spec, self.settings
        prepared = self.session.prepare_request(
            requests.Request(
                spec.method,
                hops.url,
                params=hops.params,
                json=spec.json,
                headers=settings.headers(spec.api_generation),
            )
        )
        adapter = self.session.get_adapter(prepared.url or hops.url)
        return adapter.send(
            prepared,
            stream=True,
            timeout=(limit, limit),
            verify=settings.verify,
            proxies=self.session.proxies,
        )

    def call(
        self,
        spec: RequestSpec,
        should_retry: Callable[[BaseException], bool] | None = None,
        *,
        deadline: float | None = None,
    ) -> Any:
        """Send with retries (reads: 429/502/503/504, connection errors, timeouts), returning the payload."""
        rules = _wire.retrying(self.settings, should_retry, self.log, spec.operation, deadline)
        return tenacity.Retrying(**rules)(self.send_once, spec, deadline)

    def call_with(
        self, operation: str, attempt: Callable[[], Any], should_retry: Callable[[BaseException], bool]
    ) -> Any:
        """Retry an arbitrary attempt (used for the create-assessment protocol) under the same policy."""
        return tenacity.Retrying(**_wire.retrying(self.settings, should_retry, self.log, operation))(attempt)
