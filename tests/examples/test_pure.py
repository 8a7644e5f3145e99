"""The pure parts of the examples: signal validation and completed-bar detection."""

from __future__ import annotations

import json

import pytest
from kite_algo_examples.bars import BarCloser
from kite_algo_examples.signals import AcceptedSignal, RejectedSignal, parse_signal


def signal(**overrides: object) -> bytes:
    body: dict[str, object] = {"signal_id": "x-1", "symbol": "NSE:INFY", "side": "BUY", "quantity": 1}
    body.update(overrides)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def test_a_market_signal_becomes_a_validated_order() -> None:
    parsed = parse_signal(signal(product="MIS"))
    assert isinstance(parsed, AcceptedSignal)
    assert parsed.order["exchange"] == "NSE" and parsed.order["tradingsymbol"] == "INFY"
    assert parsed.order["order_type"] == "MARKET" and parsed.order["product"] == "MIS"


def test_a_limit_signal_carries_its_price_and_a_bare_symbol_is_nse() -> None:
    parsed = parse_signal(signal(symbol="TCS", order_type="LIMIT", price=3500.5))
    assert isinstance(parsed, AcceptedSignal)
    assert (parsed.order["exchange"], parsed.order["price"]) == ("NSE", 3500.5)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[1, 2]", "a signal must be a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (signal(side="HOLD"), "side: Input should be 'BUY' or 'SELL'"),
        (signal(quantity=0), "quantity: Input should be greater than 0"),
        (signal(quantity="1"), "quantity: Input should be a valid integer"),
        (signal(order_type="LIMIT"), "a LIMIT signal needs a price"),
        (signal(price=10.0), "a MARKET signal must not carry a price"),
        (signal(tag="mine"), "tag: unknown field"),
        (signal(signal_id="../etc"), "signal_id: String should match pattern"),
        (signal(quantity=101), "quantity 101 exceeds max_quantity 100"),
        (b" " * 20_000, "more than 16384"),
    ],
)
def test_bad_signals_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    parsed = parse_signal(raw, max_quantity=100)
    assert isinstance(parsed, RejectedSignal)
    assert reason in parsed.reason


def test_rejections_name_the_signal_when_they_can() -> None:
    parsed = parse_signal(signal(symbol="NSE:SBIN"), allowed_symbols={"NSE:INFY"})
    assert parsed == RejectedSignal("symbol NSE:SBIN is not in allowed_symbols", "x-1")


def bar(ts: str, close: float, complete: bool = False) -> dict[str, object]:
    return {"ts": ts, "open": close, "high": close, "low": close, "close": close, "is_complete": complete}


def test_a_bar_closes_when_a_later_bar_begins_with_its_last_values() -> None:
    closer = BarCloser()
    snapshot = {"candles": [bar("09:15", 10, True)], "current": bar("09:20", 11)}
    assert closer.feed(snapshot) == [bar("09:15", 10, True)]
    assert closer.feed({"candle": bar("09:20", 12)}) == []
    assert closer.feed({"candle": bar("09:20", 13)}) == []
    assert closer.feed({"candle": bar("09:25", 14)}) == [bar("09:20", 13, True)]


def test_redelivered_and_older_bars_are_ignored() -> None:
    closer = BarCloser()
    closer.feed({"candle": bar("09:20", 1)})
    assert closer.feed({"candle": bar("09:25", 2)}) == [bar("09:20", 1, True)]
    # a reconnect replays a snapshot with history we already closed
    replay = {"candles": [bar("09:15", 0, True), bar("09:20", 1, True)], "current": bar("09:25", 3)}
    assert closer.feed(replay) == []
    assert closer.feed(bar("09:30", 4)) == [bar("09:25", 3, True)]
    assert closer.feed({"unrelated": True}) == []


@pytest.mark.parametrize("module", ["signals", "bars"])
def test_the_pure_modules_import_no_io_library(module: str) -> None:
    import ast
    from pathlib import Path

    import kite_algo_examples

    source = Path(kite_algo_examples.__file__).with_name(f"{module}.py").read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.partition(".")[0])
    assert not imported & {"trio", "httpx", "hypercorn", "socket", "asyncio", "os", "pathlib"}, imported


def test_typed_events_and_candles_are_read_like_dicts() -> None:
    import msgspec

    class Candle(msgspec.Struct):
        ts: str
        close: float
        is_complete: bool = False

    class Update(msgspec.Struct):
        symbol: str
        candle: Candle

    closer = BarCloser()
    assert closer.feed(Update("NSE:INFY", Candle("09:20", 1.0))) == []
    assert closer.feed(Update("NSE:INFY", Candle("09:25", 2.0))) == [
        {"ts": "09:20", "close": 1.0, "is_complete": True}
    ]
