"""Airflow connection -> validated settings of the ModelRed hook (Base URL, key, extras, retry policy).

The rules (see ARCHITECTURE.md "Hook"):

* host = the service origin, default ``https://app.modelred.ai``; a trailing ``/api`` means the same.
  A host without a scheme is ``https://`` (``http://`` for a loopback host, the emulator's case).
* plain ``http://`` is refused except to loopback (127.0.0.0/8, ::1, localhost): the key would travel
  in clear text.
* password = the API key: stripped, ``mr_`` and at least 12 characters; registered with Airflow's
  secrets masker as soon as it is read; errors show at most ``mr_…(redacted)``.
* extras (URI-form extras arrive as strings and are cast): ``organization_id``, ``timeout`` (30 s),
  ``max_retries`` (3), ``retry_backoff`` (0.5 s), ``retry_max_wait`` (30 s, also caps Retry-After),
  ``retry_max_seconds`` (120 s, total time of one call's retries), ``verify_ssl`` (true),
  ``ca_bundle``, ``dashboard_url`` (default: the origin).
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from modelred_provider import __version__
from modelred_provider.api.body import DEFAULT_MAX_RESPONSE_BYTES
from modelred_provider.api.errors import ModelRedConfigurationError
from modelred_provider.api.redact import register_secret, scrub
from modelred_provider.api.retry import RetryPolicy
from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.waiting.parameters import DEFAULT_POLL_MAX_WAIT

__all__ = [
    "CA_ENV_VARS",
    "USER_AGENT",
    "ConnectionSettings",
    "amask_key",
    "check_api_key",
    "is_loopback",
    "normalize_origin",
    "not_followed",
    "redirect_target",
    "resolve_ca_bundle",
    "resolve_proxy",
    "settings_from_connection",
]

_DEFAULT_ORIGIN = "https://app.modelred.ai"
#: Bounds on the extras: no single wait, and no call, may be configured past these (seconds).
_MAX_WAIT_SECONDS = 900.0
_MAX_CALL_SECONDS = 3600.0
_MAX_RETRIES = 20
USER_AGENT = f"airflow-provider-modelred/{__version__}"
_REDACTED_KEY = "mr_…(redacted)"


def is_loopback(hostname: str | None) -> bool:
    if not hostname:
        return False
    name = hostname.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def normalize_origin(host: str | None, port: int | None = None, *, what: str = "Base URL") -> str:
    """Read the origin (``scheme://host[:port][/prefix]``) from a connection host; refuse unsafe ones."""
    raw = (host or "").strip()
    if not raw:
        return _DEFAULT_ORIGIN
    if "://" not in raw:
        bare = urlsplit(f"//{raw}")
        raw = f"{'http' if is_loopback(bare.hostname) else 'https'}://{raw}"
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ModelRedConfigurationError(f"the {what} must start with https:// (got scheme {parts.scheme!r})")
    if not parts.hostname:
        raise ModelRedConfigurationError(f"the {what} has no host name; use e.g. {_DEFAULT_ORIGIN}")
    if parts.username or parts.password:
        raise ModelRedConfigurationError(
            f"the {what} must not contain credentials; put the API key in the connection's API Key field"
        )
    if parts.query or parts.fragment:
        raise ModelRedConfigurationError(
            f"the {what} must not contain a query or fragment; use e.g. {_DEFAULT_ORIGIN}"
        )
    if scheme == "http" and not is_loopback(parts.hostname):
        raise ModelRedConfigurationError(
            f"refusing plain http:// to {parts.hostname}: the API key would travel unencrypted. "
            "Use https:// (plain http is allowed only to loopback: 127.0.0.0/8, ::1, localhost)"
        )
    try:
        explicit_port = parts.port
    except ValueError as err:
        raise ModelRedConfigurationError(f"the {what} has an invalid port: {err}") from None
    netloc = parts.netloc.lower()
    if explicit_port is None and port:
        netloc = f"{netloc}:{int(port)}"
    path = parts.path.rstrip("/")
    if path.lower().endswith("/api"):
        path = path[: -len("/api")]
    return f"{scheme}://{netloc}{path}"


_PORTS = {"http": 80, "https": 443}  # the default port of each scheme
# What a Location we follow may hold: visible ASCII without backslash (WHATWG parsers read "\\" as
# "/", RFC 3986 parsers do not: the classic way to make two parsers see two hosts).
_LOCATION_CHARS = re.compile(r"[!#-\[\]-~]+")
# scheme://host[:port] with a plain host (letters, digits, dots, dashes) or a bracketed IPv6 address,
# and nothing else in the authority: no userinfo, no second "@", no empty or odd port.
_ABSOLUTE = re.compile(r"(?i)(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?(?=[/?]|$)")


def redirect_target(current_url: str, location: str | None, operation: str) -> str:
    """Where a same-origin redirect goes: our own origin plus the Location's path and query.

    Any ``Location`` that two URL parsers could read differently (backslashes, userinfo, control
    characters, spaces, non-ASCII, an unparsable port, a scheme-relative ``//host``) is refused, and
    so is one to another origin: the key would go with it. The URL returned is built from the
    *current* origin, so the transport never reads an authority the server wrote.
    """
    if not location:
        raise ModelRedConfigurationError(f"ModelRed {operation}: a redirect without a Location header")
    refused = ModelRedConfigurationError(
        f"ModelRed {operation}: the server redirected to a Location that is not a plain same-origin URL "
        f"({_shown(location)}); the API key is not sent there. If the service moved, set the "
        "connection's Base URL to its new address."
    )
    if not _LOCATION_CHARS.fullmatch(location) or location.startswith("//"):
        raise refused
    current = urlsplit(current_url)
    origin = f"{current.scheme}://{current.netloc}"
    if location.startswith("/"):
        rest = location
    else:
        absolute = _ABSOLUTE.match(location)
        if absolute is None:
            if "://" in location or ":" in location.split("/", 1)[0]:
                raise refused
            # A relative reference ("page2", "?page=2"): resolve it against the current path.
            rest = urljoin(current_url, location)[len(origin) :]
            if not rest.startswith("/"):
                raise refused
        else:
            scheme, host, port = absolute.group(1).lower(), absolute.group(2).lower(), absolute.group(3)
            # urlsplit has lowercased the scheme and the host, and taken the brackets off an IPv6 one
            wanted = (current.scheme, current.hostname or "", current.port or _PORTS.get(current.scheme))
            if (scheme, host.strip("[]"), int(port) if port else _PORTS[scheme]) != wanted:
                raise ModelRedConfigurationError(
                    f"ModelRed {operation}: the server redirected to another origin "
                    f"({scheme}://{host}{':' + port if port else ''}); the API key is not sent there. "
                    "If that is the real service, set the connection's Base URL to it."
                )
            rest = location[absolute.end() :] or "/"
    return origin + rest.split("#", 1)[0]


def _shown(text: str, limit: int = 80) -> str:
    """Make a server string safe to put in a message: printable, bounded, scrubbed."""
    cleaned = "".join(ch if ch.isprintable() and ch.isascii() else "?" for ch in text[:limit])
    return repr(scrub(cleaned) + ("..." if len(text) > limit else ""))


def not_followed(spec: Any, target: str) -> ModelRedConfigurationError:
    """Refuse to re-send a redirected POST/PATCH (it might run twice): the Base URL must be the final one."""
    return ModelRedConfigurationError(
        f"ModelRed {spec.operation}: the server redirected {spec.method} {spec.path} to {target}; "
        "it is not re-sent. Set the connection's Base URL to the address the service redirects to"
    )


def check_api_key(raw: Any) -> str:
    """Return the stripped key if it has the shape of a ModelRed key; the error never shows any of it.

    A key is ``mr_`` and at least 9 more characters, all printable ASCII without spaces: a key with
    a line break or a non-Latin-1 character could not travel in a header anyway, and would get past
    log maskers in its split or encoded form.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ModelRedConfigurationError(
            "no API key: put your ModelRed API key (mr_...) in the connection's API Key (password) field"
        )
    if not isinstance(raw, str):
        raise ModelRedConfigurationError("the API key (redacted) must be text; check the API Key field")
    key = raw.strip()
    if not _KEY_CHARS.fullmatch(key):
        raise ModelRedConfigurationError(
            "the API key (redacted) contains spaces, line breaks or characters that are not printable "
            "ASCII; copy it again from ModelRed (Settings -> API Keys)"
        )
    if not key.startswith("mr_") or len(key) < 12:
        shown = _REDACTED_KEY if key.startswith("mr_") else "(redacted; it does not start with mr_)"
        raise ModelRedConfigurationError(
            f"the API key {shown} does not look like a ModelRed key: expected mr_ followed by at least "
            "9 characters. Copy it again from ModelRed (Settings -> API Keys)"
        )
    return key


_KEY_CHARS = re.compile(r"[!-~]+")


async def amask_key(key: str) -> None:
    """``mask_secret`` for the event loop: the sync one may block on the supervisor channel there."""
    from airflow.sdk.log import amask_secret

    await amask_secret(key)


def _number(
    extras: Mapping[str, Any],
    name: str,
    default: float,
    *,
    integer: bool = False,
    minimum: float = 0,
    maximum: float | None = None,
    above_zero: str | None = None,
) -> Any:
    """Read a finite number within bounds; ``above_zero`` (its unit, or "") also refuses 0."""
    value = extras.get(name)
    if value is None or value == "":
        return default
    try:
        number = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past float's range
        number = None
    if number is None or not math.isfinite(number) or (integer and not number.is_integer()):
        kind = "a whole number" if integer else "a number"
        raise ModelRedConfigurationError(
            f"connection extra {name!r} must be {kind}, got {value!r}; fix it in the connection's extras"
        )
    if number < minimum:
        raise ModelRedConfigurationError(
            f"connection extra {name!r} must be at least {minimum}, got {value!r}"
        )
    if maximum is not None and number > maximum:
        raise ModelRedConfigurationError(
            f"connection extra {name!r} must be at most {maximum:g}, got {value!r}"
        )
    if above_zero is not None and number <= 0:
        raise ModelRedConfigurationError(
            f"connection extra {name!r} must be more than 0{above_zero}, got {number!r}"
        )
    return int(number) if integer else number


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _flag(extras: Mapping[str, Any], name: str, default: bool) -> bool:
    value = extras.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):  # True and False too (bool is an int)
        return bool(value)
    raise ModelRedConfigurationError(f"connection extra {name!r} must be true or false, got {value!r}")


def _optional_text(extras: Mapping[str, Any], name: str) -> str | None:
    value = extras.get(name)
    return None if value is None else (str(value).strip() or None)


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the transports need; ``repr`` never shows the key."""

    origin: str
    api_key: str = field(repr=False)
    organization_id: str | None = None
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify_ssl: bool = True
    ca_bundle: str | None = None
    dashboard_url: str | None = None
    #: The cap on one answer once decoded (connection extra ``max_response_mb``).
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    #: The longest single pause between two polls, ``Retry-After`` included (extra ``poll_max_wait``).
    poll_max_wait: float = DEFAULT_POLL_MAX_WAIT
    #: The proxy both transports use for the origin (from the environment; see :func:`resolve_proxy`).
    proxy: str | None = None

    @property
    def verify(self) -> bool | str:
        """What both transports trust: False (``verify_ssl=false``) or a CA bundle file.

        The connection's ``ca_bundle`` wins, then the environment (:data:`CA_ENV_VARS`), then
        certifi's bundle: the same file for requests and aiohttp (see :func:`resolve_ca_bundle`).
        """
        if not self.verify_ssl:
            return False
        if self.ca_bundle:
            return self.ca_bundle
        import certifi

        return str(certifi.where())

    @property
    def dashboard(self) -> str:
        return (self.dashboard_url or self.origin).rstrip("/")

    def headers(self, api_generation: ApiGeneration) -> dict[str, str]:
        """Auth headers: Bearer everywhere; v2 adds ``x-api-key`` and drops the organization header."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if ApiGeneration(api_generation) is ApiGeneration.V2:
            headers["x-api-key"] = self.api_key
        elif self.organization_id:
            headers["x-organization-id"] = self.organization_id
        return headers

    @property
    def pool_key(self) -> tuple[Any, ...]:
        """What an HTTP connection pool depends on (never the key: it goes in per-request headers)."""
        return (self.origin, self.verify_ssl, self.ca_bundle, self.timeout, self.proxy)


#: Environment variables naming a CA bundle, read when the connection names none; first set wins.
#: One rule for both transports (requests reads the first and the last by itself, OpenSSL the
#: second: left to themselves, ``airflow connections test`` and the triggerer could disagree).
CA_ENV_VARS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")


def resolve_ca_bundle(extra: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """Return the CA bundle file both transports use, or None for certifi's; a missing file is an error."""
    named = [("connection extra 'ca_bundle'", extra)]
    named += [(f"environment variable {name}", (environ.get(name) or "").strip()) for name in CA_ENV_VARS]
    source, path = next(((what, name) for what, name in named if name), (None, None))
    if path is None:
        return None
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ModelRedConfigurationError(
            f"the CA bundle {path!r} from the {source} is not a readable file; give the path of a PEM "
            "file that exists on every Airflow component (workers and triggerers alike)"
        )
    return path


def resolve_proxy(origin: str) -> str | None:
    """Return the proxy for ``origin`` from the environment, for both transports (None: direct).

    ``HTTPS_PROXY``/``HTTP_PROXY`` by the origin's scheme, else ``ALL_PROXY`` (any case, as curl
    reads them); ``NO_PROXY`` bypasses; a loopback origin (the emulator) is never proxied.
    """
    parts = urlsplit(origin)
    proxies = urllib.request.getproxies_environment()
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed
    if is_loopback(parts.hostname) or bypass(parts.netloc, proxies):
        return None
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _extras(conn: Any) -> dict[str, Any]:
    extras = getattr(conn, "extra_dejson", None)
    if isinstance(extras, dict):
        return extras
    raw = getattr(conn, "extra", None)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ModelRedConfigurationError("the connection's extras are not valid JSON") from None
    return parsed if isinstance(parsed, dict) else {}


def settings_from_connection(conn: Any, *, mask: bool = True) -> ConnectionSettings:
    """Validate a ``Connection`` into :class:`ConnectionSettings`; mask the key (unless ``mask=False``)."""
    raw_key = getattr(conn, "password", None)
    if isinstance(raw_key, str) and raw_key.strip():
        if mask:  # Airflow's secrets masker: task logs, rendered fields, XComs
            from airflow.sdk.log import mask_secret

            mask_secret(raw_key.strip())
        register_secret(raw_key.strip())
    key = check_api_key(raw_key)
    extras = _extras(conn)
    origin = normalize_origin(getattr(conn, "host", None), getattr(conn, "port", None))
    dashboard = _optional_text(extras, "dashboard_url")
    if dashboard is not None:
        parts = urlsplit(dashboard if "://" in dashboard else f"https://{dashboard}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ModelRedConfigurationError(f"connection extra 'dashboard_url' is not a URL: {dashboard!r}")
        dashboard = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    retry = RetryPolicy(
        max_retries=_number(extras, "max_retries", 3, integer=True, maximum=_MAX_RETRIES),
        backoff=_number(extras, "retry_backoff", 0.5, maximum=_MAX_WAIT_SECONDS),
        max_wait=_number(extras, "retry_max_wait", 30.0, maximum=_MAX_WAIT_SECONDS),
        max_total=_number(extras, "retry_max_seconds", 120.0, maximum=_MAX_CALL_SECONDS),
    )
    timeout = _number(extras, "timeout", 30.0, maximum=_MAX_CALL_SECONDS, above_zero=" seconds")
    max_mb = _number(
        extras, "max_response_mb", DEFAULT_MAX_RESPONSE_BYTES / 1048576, maximum=1024, above_zero=""
    )
    poll_max_wait = _number(
        extras, "poll_max_wait", DEFAULT_POLL_MAX_WAIT, minimum=1, maximum=_MAX_WAIT_SECONDS
    )
    verify_ssl = _flag(extras, "verify_ssl", True)
    return ConnectionSettings(
        origin=origin,
        api_key=key,
        organization_id=_optional_text(extras, "organization_id"),
        timeout=timeout,
        retry=retry,
        verify_ssl=verify_ssl,
        ca_bundle=resolve_ca_bundle(_optional_text(extras, "ca_bundle")) if verify_ssl else None,
        dashboard_url=dashboard,
        max_response_bytes=int(max_mb * 1048576),
        poll_max_wait=poll_max_wait,
        proxy=resolve_proxy(origin),
    )
