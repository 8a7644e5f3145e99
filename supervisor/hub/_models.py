"""Typed stream records (msgspec Structs, unknown fields ignored) and payload decoding.

The records are untracked by the cyclic garbage collector (``gc=False``): they hold decoded
JSON, which cannot form a cycle, and thousands of them are in flight in subscriber buffers at
any moment, which would otherwise be promoted to the oldest generation and make its
collections, stop-the-world pauses of 100 ms and more with 1,000 strategies, frequent.

Payloads arrive as the client's decoded dicts (contract §5.2); ``decode_*`` turn one payload
into a list of records with their conflation key (None = never conflated). Decoding is pure.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import msgspec

__all__ = [
    "Candle",
    "PnlUpdate",
    "StreamResumed",
    "Tick",
    "TimelineEvent",
    "decode_candles",
    "decode_pnl",
    "decode_ticks",
    "decode_timeline",
]


class Tick(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One quote (§4.13); only the fields strategies use are typed, the rest are ignored."""

    instrument_token: int | None = None
    tradingsymbol: str | None = None
    symbol: str | None = None
    exchange: str | None = None
    last_price: float | None = None
    volume: int | float | None = None
    timestamp: str | None = None
    exchange_timestamp: str | None = None
    ohlc: dict[str, float] | None = None
    depth: dict[str, Any] | None = None


class Candle(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    symbol: str | None = None
    instrument_token: int | None = None
    interval: str | None = None
    ts: str | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    volume: float | None = None
    oi: float | None = None
    is_complete: bool = False


class PnlUpdate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    run_id: str | None = None
    realized_pnl: float | None = None
    unrealized_pnl: float | None = None
    total_pnl: float | None = None
    charges: float | None = None
    positions: list[dict[str, Any]] | None = None


class TimelineEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    cursor: int
    event_type: str | None = None
    kind: str | None = None
    run_id: str | None = None
    created_at: str | None = None
    payload: dict[str, Any] | None = None


class StreamResumed(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Marker: the upstream stream of ``kind``/``key`` reconnected; ``gap_s`` is the time since
    its last event. Values may have been missed, so re-sync (e.g. fetch positions / quotes)."""

    kind: str
    key: str
    gap_s: float


Keyed = list[tuple[Any, Hashable | None]]


def _convert(obj: Any, typ: type[Any]) -> Any:
    return msgspec.convert(obj, typ, strict=False)


def _tick_key(tick: Tick) -> Hashable:
    return ("tick", tick.instrument_token if tick.instrument_token is not None else tick.tradingsymbol)


def decode_ticks(payload: Any) -> Keyed:
    """``{"quotes": [...]}`` (snapshot) or ``{"ticks": [...]}`` → ticks, keyed per instrument."""
    if not isinstance(payload, Mapping):
        return []
    rows = payload.get("ticks")
    if rows is None:
        rows = payload.get("quotes") or []
    if isinstance(rows, Mapping):  # the snapshot maps symbol -> quote
        rows = list(rows.values())
    out: Keyed = []
    for row in rows:
        tick = _convert(row, Tick)
        out.append((tick, _tick_key(tick)))
    return out


def decode_candles(payload: Any) -> Keyed:
    """``event: candle`` payloads and the snapshot's candles object → candles.

    The in-progress candle is keyed (conflated); completed candles are not."""
    if not isinstance(payload, Mapping):
        return []
    meta = {k: payload.get(k) for k in ("symbol", "instrument_token", "interval")}
    rows: list[Any]
    if isinstance(payload.get("candle"), Mapping):
        rows = [payload["candle"]]
    else:
        rows = list(payload.get("candles") or [])
        current = payload.get("current")
        if isinstance(current, Mapping):
            rows.append(current)
    out: Keyed = []
    for raw in rows:
        row = raw
        if isinstance(raw, list):  # [ts, o, h, l, c, v(, oi)] historical rows
            row = dict(zip(("ts", "open", "high", "low", "close", "volume", "oi"), raw, strict=False))
            row.setdefault("is_complete", True)
        candle = _convert({**meta, **row}, Candle)
        # keyed per bar: a newer bar must not overtake a completed one queued before it
        key = None if candle.is_complete else ("candle", candle.instrument_token, candle.symbol, candle.ts)
        out.append((candle, key))
    return out


def decode_pnl(payload: Any) -> Keyed:
    # P&L snapshots are whole-state: the latest one supersedes the rest, so conflate them.
    return [(_convert(payload, PnlUpdate), ("pnl",))] if isinstance(payload, Mapping) else []


def decode_timeline(payload: Any) -> Keyed:
    return [(_convert(payload, TimelineEvent), None)] if isinstance(payload, Mapping) else []
