"""The sync transport: one ``requests.Session`` per hook, the shared retry rules via tenacity.

``requests`` is imported here only, and this module only when a sync call runs, so importing the
hook (at DAG parse time) costs neither requests nor aiohttp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
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


def _chain(error: BaseException) -> list[BaseException]:
    """The error and all nested in it (causes, contexts, urllib3 ``reason``, args), outermost first."""
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
    return (text or type(root).__name__)[:200]


def _is_connect_failure(error: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP connection was never made (refused, DNS, unreachable): nothing was sent."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    never_sent = (NewConnectionError, NameResolutionError, ConnectionRefusedError)
    return any(isinstance(nested, never_sent) for nested in _chain(error))


def translate_error(
    error: requests.RequestException, settings: ConnectionSettings, operation: str
) -> Exception:
    """A requests exception -> our typed transport error (never with the key: it lives in headers only)."""
    where = settings.origin
    if isinstance(error, requests.exceptions.SSLError):
        return ModelRedTLSError(
            f"TLS failure talking to {where}: {_reason(error)}. If the server uses a private CA, "
            "set the connection extra ca_bundle to its PEM file",
            operation=operation,
        )
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return ModelRedConnectError(f"timed out connecting to {where}", operation=operation)
    if isinstance(error, requests.exceptions.ConnectionError) and _is_connect_failure(error):
        return ModelRedConnectError(f"cannot connect to {where}: {_reason(error)}", operation=operation)
    if isinstance(error, requests.exceptions.Timeout):
        return ModelRedTimeoutError(
            f"no answer from {where} within {settings.timeout:g} s (the request was sent)",
            operation=operation,
        )
    return ModelRedTransportError(f"connection to {where} failed: {_reason(error)}", operation=operation)


class _HeadersAreTheAuth(requests.auth.AuthBase):
    """Our ``Authorization`` header is the auth. Setting this on the session stops requests from looking
    up ``~/.netrc`` (it does when no auth is set) and replacing the key with a netrc login."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class SyncTransport:
    """Sends :class:`RequestSpec` s with one keep-alive session."""

    def __init__(self, settings: ConnectionSettings, log: Any) -> None:
        self.settings = settings
        self.log = log
        self.session = requests.Session()
        self.session.verify = settings.verify
        self.session.auth = _HeadersAreTheAuth()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        if not settings.verify_ssl:
            log.warning("ModelRed: TLS verification is off for %s (verify_ssl=false)", settings.origin)

    def close(self) -> None:
        self.session.close()

    def send_once(self, spec: RequestSpec) -> Any:
        """One request (following same-origin redirects of a GET): the decoded payload or a typed error."""
        settings = self.settings
        url = settings.origin + spec.path
        params: dict[str, str] | None = spec.params
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self.session.request(
                    spec.method,
                    url,
                    params=params,
                    json=spec.json,
                    headers=settings.headers(spec.api_generation),
                    timeout=settings.timeout,
                    allow_redirects=False,
                    # Per request: a session-level verify loses to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE.
                    verify=settings.verify,
                )
            except requests.RequestException as err:
                raise translate_error(err, settings, spec.operation) from None
            if response.is_redirect:
                url = redirect_target(url, response.headers.get("Location"), spec.operation)
                if not spec.idempotent:
                    raise not_followed(spec, url)
                params = None  # the Location carries its own query
                continue
            text = _text(response, settings.api_key)
            return read_payload(spec.operation, response.status_code, text, response.headers)
        raise ModelRedTransportError(f"more than {MAX_REDIRECTS} redirects", operation=spec.operation)

    def call(self, spec: RequestSpec, should_retry: Callable[[BaseException], bool] | None = None) -> Any:
        """Send with retries (reads: 429/502/503/504, connection errors, timeouts), returning the payload."""
        predicate = should_retry or is_retryable_read
        retrying = tenacity.Retrying(
            **tenacity_kwargs(self.settings.retry, predicate, self.log, spec.operation)
        )
        return retrying(self.send_once, spec)

    def call_with(
        self, operation: str, attempt: Callable[[], Any], should_retry: Callable[[BaseException], bool]
    ) -> Any:
        """Retry an arbitrary attempt (used for the create-assessment protocol) under the same policy."""
        retrying = tenacity.Retrying(
            **tenacity_kwargs(self.settings.retry, should_retry, self.log, operation)
        )
        return retrying(attempt)


def _text(response: requests.Response, key: str) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        text = response.content.decode("utf-8", "replace")
    # A server that echoes the key (a debug page, a proxy) must not put it in our errors.
    return text.replace(key, "***") if key in text else text
