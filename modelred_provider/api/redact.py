r"""The one scrub every server-supplied string passes before it reaches an error, a log line or a summary.

The API key lives in per-request headers only, so our own words never hold it. A server can still
send it back: an echo in an error body, a debug page, a JSON-escaped copy (``\u006d\u0072_...``)
that only appears once decoded. :func:`scrub` replaces every known key (and its secret part, and
their percent-encoded forms) in a decoded string. Keys are registered when a connection is read
(:func:`register_secret`, next to Airflow's own masker), so the parser, the error types and the
transports can scrub without being handed the key.
"""

from __future__ import annotations

import re
import threading
from typing import Any

__all__ = ["register_secret", "scrub", "scrub_any"]

_REPLACEMENT = "***"
#: Secrets shorter than this are not registered: scrubbing them would mangle ordinary text.
_MIN_LENGTH = 8

_lock = threading.Lock()
_forms: tuple[str, ...] = ()
_encoded: re.Pattern[str] | None = None


def _char_pattern(ch: str) -> str:
    r"""One character, or any escape of it a server or a page might use: %hh, \uhhhh, \xhh, &#n;, &#xh;."""
    code = ord(ch)
    hex2 = f"{code:02x}"
    return f"(?:{re.escape(ch)}|%{hex2}|\\\\u00{hex2}|\\\\x{hex2}|&#0*{code};|&#x0*{hex2};)"


def register_secret(secret: str) -> None:
    """Scrub ``secret`` (and its forms) from every server string from now on, in this process."""
    global _forms, _encoded
    if not isinstance(secret, str) or len(secret) < _MIN_LENGTH:
        return
    candidates = {secret}
    if secret.startswith("mr_") and len(secret) - 3 >= _MIN_LENGTH:
        candidates.add(secret[3:])
    with _lock:
        # Longest first, so a key is replaced whole before its secret part would leave "mr_***".
        _forms = tuple(sorted(set(_forms) | candidates, key=len, reverse=True))
        pattern = "|".join("".join(_char_pattern(ch) for ch in form) for form in _forms)
        _encoded = re.compile(pattern, re.IGNORECASE)


def scrub(text: str) -> str:
    """``text`` with every registered secret, plain or escaped, replaced by ``***``."""
    forms, encoded = _forms, _encoded
    for form in forms:
        if form in text:
            text = text.replace(form, _REPLACEMENT)
    # Escaped forms only where an escape could be (a fast test: most strings have none).
    if encoded is not None and ("%" in text or "\\" in text or "&#" in text):
        text = encoded.sub(_REPLACEMENT, text)
    return text


def scrub_any(value: Any, _depth: int = 0) -> Any:
    """:func:`scrub` through the strings of a decoded JSON value (details of an error answer)."""
    if isinstance(value, str):
        return scrub(value)
    if _depth > 20:
        return None
    if isinstance(value, dict):
        return {scrub(str(k)): scrub_any(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_any(v, _depth + 1) for v in value]
    return value
