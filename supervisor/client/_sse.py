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
from functools import partial
from itertools import starmap
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
_decode_json = msgspec.json.Decoder().decode
# The server's frames (contract §5.1), for the fast path of LF-only data (see _uniform_frames).
_NAMED_FRAME = re.compile(r"^event: ([^\n]+)\ndata: ([^\n]*)\n\n", re.MULTILINE)
_UNNAMED_FRAME = re.compile(r"^data: ([^\n]*)\n\n", re.MULTILINE)


class SSEMessage(msgspec.Struct, frozen=True):
    """One dispatched event: its name (``"message"`` when unnamed) and its data text."""

    event: str = "message"
    data: str = ""


_unnamed_message = partial(SSEMessage, "message")


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

    Chunks with LF line ends only (what the server sends) take a fast path: up to the last
    blank line, a run of frames of one common shape is parsed by one regular expression in C
    (:func:`_uniform_frames`); failing that, each event (up to a blank line) is decoded at once
    and split into lines; the lines of an event still incomplete are kept unparsed for the next
    chunk (:meth:`_lf_tail`). Anything else (CR or CRLF, the first line, a comment in an
    incomplete event, an event longer than ``max_buffer``) goes line by line through the
    general path, the reference for all of them (``tests/client/test_sse.py`` compares them).
    """

    def __init__(self, max_buffer: int = 1 << 20) -> None:
        if max_buffer < 1:
            raise ValueError("max_buffer must be at least 1 byte")
        self.max_buffer = max_buffer
        self._rest = b""  # an incomplete line, after the LF-only lines of its event (_lf_tail)
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._at_start = True  # no line decoded yet (BOM handling)
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._state = "open"  # open | closed | broken

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete line and an incomplete event's other lines (at most
        ``max_buffer``; for statistics and tests)."""
        return len(self._rest)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume ``chunk`` and return the events completed by it (possibly none)."""
        self._check_open()
        if not chunk:
            return []
        rest = self._rest
        data = rest + chunk if rest else bytes(chunk)
        pos = 0
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                pos = 1
        events: list[SSEEvent] = []
        try:
            if b"\r" in chunk:  # the kept remainder holds no CR: only the chunk can
                pos = self._any_line_ends(data, pos, events)
            else:
                pos = self._lf_events(data, pos, events)
            self._rest = data[pos:]
            self._check_size(len(self._rest))
        except SSEBufferOverflow:
            self._rest = b""
            raise
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: return a complete-but-undispatched event, if any, and retire the decoder."""
        self._check_open()
        self._state = "closed"
        rest, self._rest = self._rest, b""
        events: list[SSEEvent] = []
        self._lf_lines(rest, 0, events, until_blank=False)  # kept lines; the unterminated last goes
        self._dispatch(events)
        return events

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"SSEDecoder is {self._state}")

    def _check_size(self, size: int) -> None:
        if size > self.max_buffer:
            self._state = "broken"
            raise SSEBufferOverflow(f"SSE line longer than the {self.max_buffer}-byte buffer limit")

    def _any_line_ends(self, data: bytes, pos: int, events: list[SSEEvent]) -> int:
        """The general path: every complete line, whatever its line end; returns the next pos."""
        for match in _LINE_END.finditer(data, pos):
            self._process_line(data[pos : match.start()], events)
            pos = match.end()
            if pos == len(data) and match.group() == b"\r":
                self._skip_lf = True
        return pos

    def _lf_lines(self, data: bytes, pos: int, events: list[SSEEvent], *, until_blank: bool) -> int:
        """The general path for LF-only data, line by line (optionally up to a blank line)."""
        find = data.find
        while (end := find(b"\n", pos)) >= 0:
            line = data[pos:end]
            pos = end + 1
            self._process_line(line, events)
            if until_blank and not line:
                break
        return pos

    def _lf_events(self, data: bytes, pos: int, events: list[SSEEvent]) -> int:
        """LF-only data: whole events at once where possible; returns the next pos."""
        if self._at_start or self._data or self._event:  # finish what an earlier chunk began
            pos = self._lf_lines(data, pos, events, until_blank=True)
        last = data.rfind(b"\n\n", pos)
        # Up to the last blank line, if within the bound (then so is every line and event in it).
        # UTF-8 never continues a sequence over a line end, so decoding the span at once equals
        # decoding its lines one by one.
        within = last >= 0 and last + 2 - pos <= self.max_buffer
        if within and _uniform_frames(data[pos : last + 2].decode("utf-8", "replace"), events):
            return self._lf_tail(data, last + 2, events)
        while (end := data.find(b"\n\n", pos)) >= 0:  # event by event (a blank line follows)
            if end - pos > self.max_buffer:  # check the bound line by line
                pos = self._lf_lines(data, pos, events, until_blank=True)
                continue
            for line in data[pos:end].decode("utf-8", "replace").split("\n"):
                self._process_text_line(line, len(line), events)  # within the bound (above)
            self._dispatch(events)
            pos = end + 2
        return self._lf_tail(data, pos, events)

    def _lf_tail(self, data: bytes, pos: int, events: list[SSEEvent]) -> int:
        """After the last blank line: the lines of an event still in progress are kept unparsed
        with the incomplete line, so that the next chunk takes the whole event on the fast path;
        they only set fields, so nothing is seen later than it would be. Parsed now if one is a
        comment (it must surface at once), if they are over the bound or if parsed lines of the
        event are pending."""
        deferrable = len(data) - pos <= self.max_buffer and not (self._data or self._event)
        if deferrable and not data.startswith(b":", pos) and data.find(b"\n:", pos) < 0:
            return pos
        return self._lf_lines(data, pos, events, until_blank=False)

    def _process_line(self, raw: bytes, events: list[SSEEvent]) -> None:
        self._check_size(len(raw))
        line = raw.decode("utf-8", errors="replace")
        if self._at_start:
            self._at_start = False
            if line.startswith(_BOM):
                line = line[1:]
        self._process_text_line(line, len(raw), events)

    def _process_text_line(self, line: str, size: int, events: list[SSEEvent]) -> None:
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
            self._data_size += size
            self._check_size(self._data_size)
            self._data.append(value)
        # id, retry and unknown fields are ignored on purpose (contract §5.1).

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEMessage(self._event or "message", "\n".join(self._data)))
        self._event = ""
        self._data = []
        self._data_size = 0


def _uniform_frames(text: str, events: list[SSEEvent]) -> bool:
    """Append the events of ``text`` if it is a run of frames of one common shape, all
    ``event: <name>\\ndata: <data>\\n\\n`` or all ``data: <data>\\n\\n`` (LF only, ends with a
    blank line); return False, appending nothing, otherwise.

    Every match starts at a line start (``^``) and holds a fixed number of line ends, so a span
    the matches do not cover (a comment, another field, a blank line) would hold a line end of
    its own: the matches tile ``text`` exactly when they account for all of its line ends. The
    events are then built in C (``starmap``), without a Python step per event.
    """
    if text.startswith("event: "):
        named = _NAMED_FRAME.findall(text)
        if text.count("\n") == 3 * len(named):
            events.extend(starmap(SSEMessage, named))
            return True
    elif text.startswith("data: "):
        unnamed = _UNNAMED_FRAME.findall(text)
        if text.count("\n") == 2 * len(unnamed):
            events.extend(map(_unnamed_message, unnamed))
            return True
    return False


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
    data = message.data
    if not data or data.isspace():
        return None
    try:
        payload = _decode_json(data)  # JSON whitespace around it is allowed, no strip() copy
    except msgspec.DecodeError as exc:
        text = data.strip()  # str.strip() also removes the non-JSON whitespace the SDK strips
        try:
            payload = _decode_json(text)
        except msgspec.DecodeError:
            raise StreamError(
                f"undecodable {message.event!r} event at {route}: {exc}", response_body=text
            ) from exc
    event = message.event
    if event == "error":
        detail = str(payload.get("detail", payload) if isinstance(payload, dict) else payload)
        for secret in secrets:
            if secret:
                detail = detail.replace(secret, "***")
        raise StreamError(f"stream error at {route}: {detail}", response_body=payload)
    if event == "end":
        return SSEEnd(payload)
    return SSEData(event, payload)
