"""Server-sent events, sans-IO: bytes in, events out (contract §5.1, §5.3; WHATWG HTML §9.2.6).

:class:`SSEDecoder` is fed raw body chunks in whatever pieces the transport delivers and returns
the complete events it could parse. It never blocks and performs no I/O.

Invariants:

* Any chunking of the same byte stream yields the same events in the same order: a chunk may end
  inside a multi-byte UTF-8 character or between the ``\\r`` and ``\\n`` of a CRLF, because only
  complete lines are decoded and a trailing ``\\r`` is remembered until the next byte is seen.
* Lines end with CRLF, LF or CR. Each complete line is decoded as UTF-8 with replacement
  characters (as the spec requires); a byte order mark at the very start of the stream is dropped.
* The buffer is bounded: a line (or the data of one event) longer than ``max_buffer`` bytes raises
  :class:`SSEBufferOverflow`, whatever the chunking. After an overflow the decoder is unusable.
* ``event:`` and ``data:`` are honoured, with one optional space after the colon; several
  ``data:`` lines of one event are joined with ``\\n``; ``id:``, ``retry:`` and unknown fields are
  ignored (the server never sends them and ignores ``Last-Event-ID``).
* A blank line dispatches the pending event; an event without any ``data:`` line is dropped and
  its name forgotten. Comments (``:`` lines) are returned at once as :class:`SSEComment`, so the
  client can count keep-alives for idle detection.
* :func:`interpret` applies the stream semantics of contract §5.3 to one message: JSON data is
  decoded, ``event: error`` raises :class:`~supervisor.client._errors.StreamError`, ``event: end``
  marks a graceful end, an empty ``data:`` is skipped.
* :meth:`SSEDecoder.close` flushes an event whose ``data:`` lines were complete but whose blank
  line never came (the connection dropped right after a full line); an unterminated last line is
  discarded because it may be truncated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from ._errors import StreamError

__all__ = [
    "SSE_KEEPALIVE",
    "SSEBufferOverflow",
    "SSEComment",
    "SSEData",
    "SSEDecoder",
    "SSEEnd",
    "SSEEvent",
    "SSEMessage",
    "encode_sse",
    "encode_sse_comment",
    "interpret",
]

SSE_KEEPALIVE = b": heartbeat\n\n"
"""The keep-alive comment the server sends after ~15 s without a message (contract §5.2)."""

_LINE_END = re.compile(rb"\r\n|\r|\n")
_TEXT_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


class SSEMessage(msgspec.Struct, frozen=True):
    """One dispatched event: its name (``"message"`` when unnamed) and its data text."""

    event: str = "message"
    data: str = ""


class SSEComment(msgspec.Struct, frozen=True):
    """A comment line (keep-alive); ``text`` is what followed the colon, minus one leading space."""

    text: str = ""


SSEEvent = SSEMessage | SSEComment


class SSEBufferOverflow(StreamError):
    """A line or an event's data grew past the decoder's ``max_buffer`` bytes."""


class SSEDecoder:
    """Incremental SSE parser. Not thread-safe; one decoder per stream.

    ``feed`` and ``close`` never block; both raise :class:`SSEBufferOverflow` when the bound is
    exceeded and :class:`RuntimeError` when used after ``close`` or after an overflow.
    """

    def __init__(self, max_buffer: int = 1 << 20) -> None:
        if max_buffer < 1:
            raise ValueError("max_buffer must be at least 1 byte")
        self.max_buffer = max_buffer
        self._buffer = bytearray()
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._at_start = True  # no line decoded yet (BOM handling)
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._state = "open"  # open | closed | broken

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete line (for statistics and tests)."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume ``chunk`` and return the events completed by it (possibly none)."""
        self._check_open()
        if not chunk:
            return []
        buffer = self._buffer
        scan_from = len(buffer)  # the kept remainder holds no line end: scan only the new bytes
        buffer += chunk
        start = 0
        if self._skip_lf:
            self._skip_lf = False
            if buffer[:1] == b"\n":
                start = scan_from = 1
        events: list[SSEEvent] = []
        try:
            while match := _LINE_END.search(buffer, scan_from):
                line = bytes(buffer[start : match.start()])
                start = scan_from = match.end()
                if start == len(buffer) and match.group() == b"\r":
                    self._skip_lf = True
                self._check_size(len(line))
                self._process_line(line, events)
            del buffer[:start]
            self._check_size(len(buffer))
        except SSEBufferOverflow:
            buffer.clear()
            raise
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: return a complete-but-undispatched event, if any, and retire the decoder."""
        self._check_open()
        self._state = "closed"
        self._buffer.clear()
        events: list[SSEEvent] = []
        self._dispatch(events)
        return events

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"SSEDecoder is {self._state}")

    def _check_size(self, size: int) -> None:
        if size > self.max_buffer:
            self._state = "broken"
            raise SSEBufferOverflow(f"SSE line longer than the {self.max_buffer}-byte buffer limit")

    def _process_line(self, raw: bytes, events: list[SSEEvent]) -> None:
        line = raw.decode("utf-8", errors="replace")
        if self._at_start:
            self._at_start = False
            if line.startswith(_BOM):
                line = line[1:]
        if not line:
            self._dispatch(events)
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if not name:
            events.append(SSEComment(value))
        elif name == "event":
            self._event = value
        elif name == "data":
            self._data_size += len(raw)
            self._check_size(self._data_size)
            self._data.append(value)
        # id, retry and unknown fields are ignored on purpose (contract §5.1).

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEMessage(self._event or "message", "\n".join(self._data)))
        self._event = ""
        self._data = []
        self._data_size = 0


def encode_sse(data_json: str, event: str | None = None) -> bytes:
    """Frame one message for the wire: optional ``event:`` line, ``data:`` line(s), blank line.

    The server's JSON is a single line (contract §5.1); text with line breaks is split over several
    ``data:`` lines, which a decoder joins back with ``\\n``. Raises :class:`ValueError` when the
    event name contains a line break.
    """
    parts: list[str] = []
    if event:
        if _TEXT_LINE_END.search(event):
            raise ValueError("SSE event names cannot contain line breaks")
        parts.append(f"event: {event}\n")
    for line in _TEXT_LINE_END.split(data_json):
        parts.append(f"data: {line}\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def encode_sse_comment(text: str = "heartbeat") -> bytes:
    """Frame a comment (keep-alive); raises :class:`ValueError` when ``text`` has a line break."""
    if _TEXT_LINE_END.search(text):
        raise ValueError("SSE comments cannot contain line breaks")
    return f": {text}\n\n".encode()


class SSEData(msgspec.Struct, frozen=True):
    """A decoded payload to hand to the caller, with the event name it came under."""

    event: str
    payload: Any


class SSEEnd(msgspec.Struct, frozen=True):
    """The server ended the stream gracefully (``event: end``); ``payload`` is its decoded data."""

    payload: Any


def interpret(message: SSEMessage, *, route: str, secrets: Sequence[str] = ()) -> SSEData | SSEEnd | None:
    """One message with the stream semantics of contract §5.3.

    Returns :class:`SSEData` for a payload, :class:`SSEEnd` for ``event: end``, ``None`` for an
    empty ``data:`` (skipped, as the SDK does). Raises :class:`StreamError` for ``event: error``
    (message ``stream error at <route>: <detail>``, ``response_body`` the decoded payload) and for
    data that is not JSON. ``route`` is a path template, never a URL; each of ``secrets`` is
    masked as ``***`` should the server echo it in an error detail.
    """
    text = message.data.strip()
    if not text:
        return None
    try:
        payload = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise StreamError(
            f"undecodable {message.event!r} event at {route}: {exc}", response_body=text
        ) from exc
    if message.event == "error":
        detail = str(payload.get("detail", payload) if isinstance(payload, dict) else payload)
        for secret in secrets:
            if secret:
                detail = detail.replace(secret, "***")
        raise StreamError(f"stream error at {route}: {detail}", response_body=payload)
    if message.event == "end":
        return SSEEnd(payload)
    return SSEData(message.event, payload)
