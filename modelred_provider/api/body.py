"""Reading an answer's body, the same way in the sync and the async transport: bounded and stepwise.

* **Size.** The body is read in chunks and decompressed by us (the transports turn their own
  decompression off), ``zlib`` with ``max_length``, so a decompression bomb stops at the cap:
  memory stays near ``limit`` whatever the server sends. Over the cap ->
  :class:`ModelRedResponseError` with ``too_large``. Only ``gzip``, ``deflate`` and ``identity`` are asked for
  and accepted.
* **Time on an event loop.** ``json.loads`` holds the GIL for its whole run (about 12 ms per MiB
  here), so a thread would not help the triggerer's loop. Bodies up to :data:`INLINE_JSON_BYTES`
  are parsed at once; larger ones are parsed incrementally (``ijson``'s C backend) in slices of
  :data:`JSON_SLICE_BYTES`, and :func:`decode_steps` yields between slices so the async caller
  can hand the loop back. The sync caller runs the same steps without pausing (:func:`run_steps`).

Both parsers refuse ``NaN``/``Infinity`` and give the same values for the same bytes (floats as
``float``); anything that is not JSON comes back as ``(False, None)`` for the caller to report.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Generator, Mapping
from typing import Any

from modelred_provider.api.errors import ModelRedResponseError

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "INLINE_JSON_BYTES",
    "JSON_SLICE_BYTES",
    "READ_CHUNK_BYTES",
    "BodyDecoder",
    "announced_too_large",
    "decode_steps",
    "run_steps",
]

#: The default cap on a decoded answer: far above the largest real report (a few MiB).
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
#: What the transports ask for (and all they accept).
ACCEPT_ENCODING = "gzip, deflate"
#: Bodies up to this size are parsed with ``json.loads`` in one go (about 25 ms at most here): ijson
#: costs several times the CPU, which a trigger group pays on every round of its list.
INLINE_JSON_BYTES = 2 * 1024 * 1024
#: Bytes fed to the incremental parser between two hand-backs to the event loop.
JSON_SLICE_BYTES = 64 * 1024
#: The most decompressed bytes taken out of zlib at a time.
_INFLATE_STEP = 1024 * 1024
#: Raw bytes read from the socket at a time.
READ_CHUNK_BYTES = 64 * 1024


class BodyDecoder:
    """Feed raw chunks in, get the decoded body out; raises past ``limit`` decoded bytes."""

    def __init__(self, content_encoding: str | None, limit: int, operation: str) -> None:
        self.limit = int(limit)
        self.operation = operation
        self._buffer = bytearray()
        self._size = 0
        encoding = (content_encoding or "identity").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise ModelRedResponseError(
                f"the answer uses Content-Encoding {encoding[:40]!r}, which was not asked for "
                f"(only {ACCEPT_ENCODING})",
                operation=operation,
            )
        gzip = encoding in ("gzip", "x-gzip")
        self._zlib: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self._deflate = encoding == "deflate"  # zlib-wrapped or raw: decided on the first bytes

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            self._buffer = bytearray()
            raise ModelRedResponseError(
                f"the answer is larger than {self.limit / 1048576:g} MiB once decoded; refusing to read "
                "more (raise the connection extra max_response_mb if real answers are this large)",
                operation=self.operation,
                too_large=True,
            )
        self._buffer += data

    def _inflate(self, data: bytes, final: bool = False) -> None:
        """Decompress ``data`` (``final``: and all that zlib still holds) into the buffer."""
        try:
            while True:
                # Never more than one byte past the cap out of any chunk, however well it compresses,
                # and at most a step at a time (zlib's output buffer grows by copying).
                out = self._zlib.decompress(data, min(self.limit - self._size + 1, _INFLATE_STEP))
                self._keep(out)
                data = self._zlib.unconsumed_tail
                if not data and not (final and out):
                    break
            if final:
                self._keep(self._zlib.flush())
        except zlib.error:
            raise ModelRedResponseError(
                "the answer's compressed body is corrupt", operation=self.operation
            ) from None

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._deflate:  # RFC 9110 deflate is zlib-wrapped; some servers send it raw: the header tells
            wrapped = len(chunk) >= 2 and (chunk[0] & 0x0F) == 8 and ((chunk[0] << 8) | chunk[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            self._deflate = False
        if self._zlib is None:
            self._keep(chunk)
        else:
            self._inflate(chunk)

    def finish(self) -> bytes:
        if self._zlib is not None:
            self._inflate(b"", final=True)
        body, self._buffer = bytes(self._buffer), bytearray()
        return body


def announced_too_large(headers: Mapping[str, str], limit: int, operation: str) -> None:
    """Refuse before reading when an uncompressed body announces more than the cap."""
    length = _header(headers, "Content-Length")
    encoding = (_header(headers, "Content-Encoding") or "identity").strip().lower()
    if length and length.strip().isdigit() and encoding in ("", "identity") and int(length) > limit:
        raise ModelRedResponseError(
            f"the answer announces {int(length)} bytes, more than the {limit / 1048576:g} MiB cap "
            "(connection extra max_response_mb)",
            operation=operation,
            too_large=True,
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_steps(body: bytes, skip: frozenset[str] = frozenset()) -> Generator[None, None, tuple[bool, Any]]:
    """Parse ``body`` as JSON: ``(True, value)`` or ``(False, None)``; yields between slices.

    ``skip``: object keys whose values a large answer's reader does not need (a waiting trigger does
    not need the report): they are never built, which is most of the memory and of the work. Small
    answers are read whole. The text is first made valid UTF-8 (invalid bytes become U+FFFD, as
    before), so both parsers read the same characters.
    """
    text = body.decode("utf-8", "replace")
    if not text.strip():
        return True, {}
    if len(body) <= INLINE_JSON_BYTES:
        try:
            return True, json.loads(text, parse_constant=_no_constants)
        except (ValueError, RecursionError):
            return False, None
    import ijson

    data = text.encode("utf-8")
    del text
    slices = range(0, len(data), JSON_SLICE_BYTES)
    try:
        if not skip:
            found: Any = ijson.sendable_list()
            parser = ijson.items_coro(found, "", use_float=True, multiple_values=False)
            for start in slices:
                parser.send(data[start : start + JSON_SLICE_BYTES])
                yield
            parser.close()
            return (True, found[0]) if len(found) == 1 else (False, None)
        events: Any = ijson.sendable_list()
        parser = ijson.parse_coro(events, use_float=True, multiple_values=False)
        builder = _SkippingBuilder(skip)
        for start in slices:
            parser.send(data[start : start + JSON_SLICE_BYTES])
            builder.feed(events)
            events.clear()
            yield
        parser.close()
        builder.feed(events)
        return True, builder.value
    except (ijson.JSONError, ijson.IncompleteJSONError, ValueError, RecursionError):
        return False, None


class _SkippingBuilder:
    """Builds the value from ijson's events, leaving out the subtrees of the keys in ``skip``."""

    def __init__(self, skip: frozenset[str]) -> None:
        from ijson.common import ObjectBuilder

        self.skip = skip
        self._builder = ObjectBuilder()
        self._skipping: str | None = None

    def feed(self, events: list[tuple[str, str, Any]]) -> None:
        event_of = self._builder.event
        for prefix, event, value in events:
            skipping = self._skipping
            if skipping is not None:
                if prefix == skipping or prefix.startswith(skipping + "."):
                    continue
                self._skipping = None
            if event == "map_key" and value in self.skip:
                self._skipping = f"{prefix}.{value}" if prefix else value
                continue
            event_of(event, value)

    @property
    def value(self) -> Any:
        return self._builder.value


def run_steps(steps: Generator[None, None, Any]) -> Any:
    """Run :func:`decode_steps` to its end without pausing (the sync transport)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
