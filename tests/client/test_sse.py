"""The SSE decoder: every vector whole, byte by byte and split at every point (h11 style)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor.client._errors import StreamError
from supervisor.client._sse import (
    SSE_KEEPALIVE,
    SSEBufferOverflow,
    SSEComment,
    SSEData,
    SSEDecoder,
    SSEEnd,
    SSEEvent,
    SSEMessage,
    _uniform_frames,
    encode_sse,
    encode_sse_comment,
    interpret,
)

M = SSEMessage
C = SSEComment


def decode_chunks(chunks: list[bytes], max_buffer: int = 1 << 20) -> list[SSEEvent]:
    decoder = SSEDecoder(max_buffer)
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


def all_chunkings(data: bytes) -> list[list[bytes]]:
    """Whole, byte by byte, and every two-piece split (including the empty edges)."""
    chunkings = [[data], [data[i : i + 1] for i in range(len(data))]]
    chunkings.extend([data[:i], data[i:]] for i in range(len(data) + 1))
    return chunkings


def assert_decodes(data: bytes, expected: list[SSEEvent], max_buffer: int = 1 << 20) -> None:
    for chunks in all_chunkings(data):
        assert decode_chunks(chunks, max_buffer) == expected, chunks


VECTORS: list[tuple[str, bytes, list[SSEEvent]]] = [
    ("unnamed", b'data: {"a": 1}\n\n', [M("message", '{"a": 1}')]),
    ("named", b'event: ticks\ndata: {"ticks": []}\n\n', [M("ticks", '{"ticks": []}')]),
    ("crlf", b"event: end\r\ndata: {}\r\n\r\n", [M("end", "{}")]),
    ("cr only", b"event: candle\rdata: 1\r\r", [M("candle", "1")]),
    ("mixed endings", b"data: a\r\ndata: b\rdata: c\n\r\n", [M("message", "a\nb\nc")]),
    ("no space after colon", b"event:snapshot\ndata:{}\n\n", [M("snapshot", "{}")]),
    ("only one space stripped", b"data:  x \n\n", [M("message", " x ")]),
    ("keepalive", SSE_KEEPALIVE, [C("heartbeat")]),
    ("comment without space", b":ping\n\n", [C("ping")]),
    ("empty comment", b":\n", [C("")]),
    (
        "comment inside an event",
        b"event: ticks\n: heartbeat\ndata: 1\n\n",
        [C("heartbeat"), M("ticks", "1")],
    ),
    ("multi-line data", b"data: line1\ndata: line2\ndata:\n\n", [M("message", "line1\nline2\n")]),
    ("empty data dispatches", b"data\n\n", [M("message", "")]),
    ("event without data is dropped", b"event: ticks\n\ndata: 2\n\n", [M("message", "2")]),
    ("id and retry ignored", b"id: 7\nretry: 10\ndata: x\nfoo: bar\n\n", [M("message", "x")]),
    ("blank lines alone", b"\n\r\n\r\n\n", []),
    ("name resets after dispatch", b"event: a\ndata: 1\n\ndata: 2\n\n", [M("a", "1"), M("message", "2")]),
    ("empty event name", b"event:\ndata: 3\n\n", [M("message", "3")]),
    ("utf-8", "data: ₹ १२३ 🚀\n\n".encode(), [M("message", "₹ १२३ 🚀")]),
    ("invalid utf-8 replaced", b"data: \xff\xfe\n\n", [M("message", "\ufffd\ufffd")]),
    ("bom at start", b"\xef\xbb\xbfdata: 1\n\n", [M("message", "1")]),
    ("bom later is data", "data: 1\n\n\ufeffdata: 2\n\n".encode(), [M("message", "1")]),
    ("flush on close", b"event: end\ndata: {}\n", [M("end", "{}")]),
    ("unterminated line discarded", b'data: {"a": 1}\n\ndata: {"tru', [M("message", '{"a": 1}')]),
    (
        "server stream",
        b'event: snapshot\ndata: {"quotes": [], "missing": []}\n\n'
        + SSE_KEEPALIVE
        + b'event: ticks\ndata: {"ticks": [{"last_price": 1450.5}]}\n\n'
        + b'event: error\ndata: {"detail": "upstream failed"}\n\n',
        [
            M("snapshot", '{"quotes": [], "missing": []}'),
            C("heartbeat"),
            M("ticks", '{"ticks": [{"last_price": 1450.5}]}'),
            M("error", '{"detail": "upstream failed"}'),
        ],
    ),
]


@pytest.mark.parametrize(("data", "expected"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS])
def test_vector_at_every_split(data: bytes, expected: list[SSEEvent]) -> None:
    assert_decodes(data, expected)


def test_cr_then_lf_in_next_chunk_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\r") == []
    # the LF completes the CRLF of the previous line, it is not a blank line
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r\n") == [M("message", "1")]


def test_cr_then_cr_is_a_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\r") == []
    assert decoder.feed(b"\r") == [M("message", "1")]


def test_split_inside_multibyte_character() -> None:
    encoded = "data: ₹\n\n".encode()
    decoder = SSEDecoder()
    assert decoder.feed(encoded[:7]) == []  # 'data: ' + first byte of the rupee sign
    assert decoder.buffered == 7
    assert decoder.feed(encoded[7:]) == [M("message", "₹")]
    assert decoder.buffered == 0


def test_events_are_returned_as_soon_as_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\ndata: 2\n") == [M("message", "1")]
    assert decoder.feed(b": heartbeat\n") == [C("heartbeat")]
    assert decoder.feed(b"\n") == [M("message", "2")]


def test_close_without_pending_event_returns_nothing() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: 1\n\n")
    assert decoder.close() == []


def test_use_after_close_is_an_error() -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(RuntimeError, match="closed"):
        decoder.feed(b"data: 1\n\n")
    with pytest.raises(RuntimeError):
        decoder.close()


def test_empty_chunk_is_harmless() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"data: 1\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n\n") == [M("message", "1")]


# -- bounded buffer ----------------------------------------------------------------------------


def test_line_at_the_limit_is_accepted_at_every_split() -> None:
    line = b"data: " + b"x" * 10  # 16 bytes
    assert_decodes(line + b"\n\n", [M("message", "x" * 10)], max_buffer=16)


@pytest.mark.parametrize(
    "data",
    [
        b"data: " + b"x" * 11 + b"\n\n",  # complete line of 17 bytes
        b"data: " + b"x" * 11,  # unterminated line of 17 bytes
        b": " + b"c" * 15 + b"\n",  # comment lines count too
        b"data: 12345678\ndata: 12345678\n\n",  # one event's data exceeds the limit
    ],
    ids=["complete-line", "partial-line", "comment", "event-data"],
)
def test_overflow_at_every_split(data: bytes) -> None:
    for chunks in all_chunkings(data):
        decoder = SSEDecoder(16)
        with pytest.raises(SSEBufferOverflow, match="16-byte"):
            for chunk in chunks:
                decoder.feed(chunk)
            decoder.close()


def test_overflow_is_a_stream_error_and_breaks_the_decoder() -> None:
    decoder = SSEDecoder(4)
    with pytest.raises(StreamError):
        decoder.feed(b"data: too long")
    assert decoder.buffered == 0  # the memory is released
    with pytest.raises(RuntimeError, match="broken"):
        decoder.feed(b"\n\n")


def test_buffer_stays_bounded_under_many_small_events() -> None:
    decoder = SSEDecoder(64)
    payload = encode_sse('{"n": 1}', "ticks") * 1000
    events = []
    for i in range(0, len(payload), 7):
        events.extend(decoder.feed(payload[i : i + 7]))
        assert decoder.buffered <= 64
    assert events == [M("ticks", '{"n": 1}')] * 1000


def test_max_buffer_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SSEDecoder(0)


# -- encoding ----------------------------------------------------------------------------------


def test_encode_shapes_match_the_server_framing() -> None:
    assert encode_sse('{"a": 1}') == b'data: {"a": 1}\n\n'
    assert encode_sse("{}", "end") == b"event: end\ndata: {}\n\n"
    assert encode_sse("{}", "") == b"data: {}\n\n"
    assert encode_sse("a\r\nb\rc\nd") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert encode_sse_comment() == SSE_KEEPALIVE == b": heartbeat\n\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\r", "\r\n"])
def test_encode_refuses_line_breaks_in_names_and_comments(bad: str) -> None:
    with pytest.raises(ValueError):
        encode_sse("{}", bad)
    with pytest.raises(ValueError):
        encode_sse_comment(bad)


def normalise_line_ends(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


event_names = st.text(min_size=1).filter(lambda s: "\r" not in s and "\n" not in s)


@given(
    messages=st.lists(st.tuples(st.text(), st.one_of(st.none(), event_names)), max_size=5),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
)
def test_encode_then_decode_round_trips(messages: list[tuple[str, str | None]], cuts: list[int]) -> None:
    wire = b"".join(encode_sse(data, event) + SSE_KEEPALIVE for data, event in messages)
    points = sorted({cut % (len(wire) + 1) for cut in cuts})
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    expected: list[SSEEvent] = []
    for data, event in messages:
        expected += [M(event or "message", normalise_line_ends(data)), C("heartbeat")]
    assert decode_chunks(chunks) == expected


@given(st.dictionaries(st.text(), st.one_of(st.integers(), st.floats(allow_nan=False), st.text())))
def test_json_payloads_round_trip(payload: dict[str, object]) -> None:
    wire = encode_sse(json.dumps(payload, ensure_ascii=False), "ticks")
    (message,) = decode_chunks([wire[i : i + 3] for i in range(0, len(wire), 3)])
    assert isinstance(message, SSEMessage)
    assert message.event == "ticks"
    assert json.loads(message.data) == payload


# -- stream semantics (contract §5.3) ----------------------------------------------------------


def test_interpret_payloads() -> None:
    assert interpret(M("ticks", '{"ticks": [1]}'), route="/r") == SSEData("ticks", {"ticks": [1]})
    assert interpret(M("message", " [1, 2] "), route="/r") == SSEData("message", [1, 2])
    assert interpret(M("message", "  "), route="/r") is None
    assert interpret(M("end", '{"detail": "Strategy run not found"}'), route="/r") == SSEEnd(
        {"detail": "Strategy run not found"}
    )


def test_interpret_error_event_raises_with_detail() -> None:
    with pytest.raises(StreamError) as info:
        interpret(M("error", '{"detail": "upstream failed"}'), route="/worker/market/ticks/stream")
    assert str(info.value) == "stream error at /worker/market/ticks/stream: upstream failed"
    assert info.value.response_body == {"detail": "upstream failed"}
    assert info.value.status_code == 0


def test_interpret_undecodable_data_raises() -> None:
    with pytest.raises(StreamError, match="undecodable 'ticks' event at /r") as info:
        interpret(M("ticks", '{"ticks": ['), route="/r")
    assert info.value.response_body == '{"ticks": ['


# -- the fast path of LF-only data against a reference decoder -----------------------------------


def reference_decode(data: bytes, max_buffer: int) -> list[SSEEvent] | None:
    """The spec applied to the whole stream at once, line by line; None when over the bound."""
    *lines, tail = re.split(rb"\r\n|\r|\n", data)  # the unterminated tail is discarded
    if len(tail) > max_buffer:
        return None
    events: list[SSEEvent] = []
    name, values, size = "", list[str](), 0
    for i, raw in enumerate(lines):
        if len(raw) > max_buffer:
            return None
        line = raw.decode("utf-8", errors="replace")
        if i == 0:
            line = line.removeprefix("\ufeff")
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if not line:
            if values:
                events.append(M(name or "message", "\n".join(values)))
            name, values, size = "", [], 0
        elif not field:
            events.append(C(value))
        elif field == "event":
            name = value
        elif field == "data":
            size += len(raw)
            if size > max_buffer:
                return None
            values.append(value)
    if values:
        events.append(M(name or "message", "\n".join(values)))
    return events


def decode_or_overflow(chunks: list[bytes], max_buffer: int) -> list[SSEEvent] | None:
    try:
        return decode_chunks(chunks, max_buffer)
    except SSEBufferOverflow:
        return None


line_text = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=12).map(
        str.encode
    ),
    st.binary(max_size=6).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),  # bad UTF-8
)
sse_line = st.one_of(
    st.tuples(st.sampled_from([b"data: ", b"data:", b"event: ", b"event:", b": ", b":"]), line_text).map(
        b"".join
    ),
    st.sampled_from([b"", b"", b"data", b"event", b"id: 7", b"retry: 10", b"foo: bar", b"\xef\xbb\xbf"]),
)
server_frame = st.tuples(st.one_of(st.none(), st.sampled_from(["ticks", "snapshot", ""])), st.text()).map(
    lambda f: encode_sse(f[1], f[0])
)


@given(
    pieces=st.lists(
        st.one_of(
            st.tuples(sse_line, st.sampled_from([b"\n", b"\n", b"\n", b"\r\n", b"\r"])).map(b"".join),
            server_frame,
            st.just(SSE_KEEPALIVE),
        ),
        max_size=12,
    ),
    bom=st.booleans(),
    tail=st.sampled_from([b"", b"data: trunc", b"\r"]),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
    max_buffer=st.one_of(st.just(1 << 20), st.integers(min_value=1, max_value=48)),
)
def test_any_stream_any_chunking_matches_the_reference(
    pieces: list[bytes], bom: bool, tail: bytes, cuts: list[int], max_buffer: int
) -> None:
    wire = (b"\xef\xbb\xbf" if bom else b"") + b"".join(pieces) + tail
    points = sorted({cut % (len(wire) + 1) for cut in cuts})
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    assert decode_or_overflow(chunks, max_buffer) == reference_decode(wire, max_buffer)


UNIFORM_RUNS = [
    (
        "named run",
        b"event: ticks\ndata: 1\n\nevent: candle\ndata: 2\n\n",
        [M("ticks", "1"), M("candle", "2")],
    ),
    (
        "unnamed run",
        b"data: 1\n\ndata: \n\ndata:  3\n\n",
        [M("message", "1"), M("message", ""), M("message", " 3")],
    ),
    ("name with colon", b"event: a:b\ndata: x:y\n\n", [M("a:b", "x:y")]),
]
NOT_UNIFORM = [
    (
        "comment between",
        b"event: t\ndata: 1\n\n: hb\n\nevent: t\ndata: 2\n\n",
        [M("t", "1"), C("hb"), M("t", "2")],
    ),
    ("mixed shapes", b"event: t\ndata: 1\n\ndata: 2\n\n", [M("t", "1"), M("message", "2")]),
    ("text before a frame", b"event: t\ndata: 1\n\nxevent: t\ndata: 2\n\n", [M("t", "1"), M("message", "2")]),
    ("extra blank line", b"event: t\ndata: 1\n\n\nevent: t\ndata: 2\n\n", [M("t", "1"), M("t", "2")]),
    ("empty name", b"event: \ndata: 1\n\nevent: \ndata: 2\n\n", [M("message", "1"), M("message", "2")]),
    ("no space", b"event:t\ndata:1\n\n", [M("t", "1")]),
    ("two data lines", b"event: t\ndata: 1\ndata: 2\n\n", [M("t", "1\n2")]),
    ("id field", b"event: t\nid: 3\ndata: 1\n\n", [M("t", "1")]),
]


@pytest.mark.parametrize(
    ("data", "expected", "uniform"),
    [(*v[1:], True) for v in UNIFORM_RUNS] + [(*v[1:], False) for v in NOT_UNIFORM],
    ids=[v[0] for v in UNIFORM_RUNS + NOT_UNIFORM],
)
def test_uniform_frames_take_only_exact_runs(data: bytes, expected: list[SSEEvent], uniform: bool) -> None:
    # a run is taken in one step only when its frames tile it exactly; the rest goes event by event
    events: list[SSEEvent] = []
    assert _uniform_frames(data.decode(), events) is uniform
    assert events == (expected if uniform else [])
    assert_decodes(b": start\n" + data, [C("start"), *expected])  # past the first line, whole too


def test_fast_path_resumes_after_an_event_split_over_chunks() -> None:
    frame = b"event: ticks\ndata: " + "₹".encode() * 3 + b"\n\n"
    decoder = SSEDecoder()
    assert decoder.feed(b": hi\n") == [C("hi")]
    assert decoder.feed(frame * 2 + frame[:20]) == [M("ticks", "₹₹₹")] * 2
    assert decoder.buffered == 20  # the event's first line is kept with the incomplete one
    assert decoder.feed(frame[20:] + frame * 2) == [M("ticks", "₹₹₹")] * 3


def test_fast_path_keeps_the_bound_of_each_line() -> None:
    # a run longer than max_buffer is checked event by event, then line by line
    frame = b"data: " + b"x" * 10 + b"\n\n"  # a 16-byte line
    decoder = SSEDecoder(16)
    assert decoder.feed(b"\n" + frame * 3) == [M("message", "x" * 10)] * 3
    with pytest.raises(SSEBufferOverflow):
        decoder.feed(b"data: " + b"x" * 11 + b"\n\n")
