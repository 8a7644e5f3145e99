"""Completed bars out of a live candle stream. Pure: no I/O, never blocks.

Candle streams mostly carry the *forming* bar (``is_complete: false``) and revise it on every
tick; a bar is complete once a bar with a later timestamp shows up. :class:`BarCloser` turns any
mix of stream events (``{"candles": [...], "current": {...}}`` snapshots, ``{"candle": {...}}``
updates, or bare candles) into each completed bar exactly once, in time order. Re-delivered or
older bars (after a reconnect) are ignored. Events and candles may be dicts or typed records
(msgspec Structs, pydantic models, dataclasses), whatever the stream hands out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["BarCloser", "candles_in_event"]


def _mapping(obj: Any) -> Mapping[str, Any] | None:
    """A read-only mapping view of a dict or a typed record; ``None`` for anything else."""
    if isinstance(obj, Mapping):
        return obj
    fields = getattr(obj, "__struct_fields__", None)  # msgspec.Struct
    if fields is not None:
        return {name: getattr(obj, name) for name in fields}
    if hasattr(obj, "model_dump"):  # pydantic
        dumped = obj.model_dump()
        return dumped if isinstance(dumped, dict) else None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return None


def candles_in_event(event: Any) -> list[Mapping[str, Any]]:
    """The candles an event carries, oldest first (completed history, then the forming one)."""
    event = _mapping(event)
    if event is None:
        return []
    found = [c for c in map(_mapping, event.get("candles") or []) if c is not None]
    for name in ("current", "candle"):
        candle = _mapping(event.get(name)) if event.get(name) is not None else None
        if candle is not None:
            found.append(candle)
    if not found and "close" in event and ("ts" in event or "date" in event):
        found.append(event)
    return found


def _ts(candle: Mapping[str, Any]) -> str:
    return str(candle.get("ts", candle.get("date", "")))


class BarCloser:
    """Feed stream events; get completed bars. ``after`` = the last bar already counted (warm-up)."""

    def __init__(self, after: str | None = None) -> None:
        self._last_closed = after  # ISO timestamps of one feed compare correctly as strings
        self._forming: Mapping[str, Any] | None = None

    def feed(self, event: Any) -> list[dict[str, Any]]:
        closed: list[dict[str, Any]] = []
        for candle in candles_in_event(event):
            ts = _ts(candle)
            if not ts or (self._last_closed is not None and ts <= self._last_closed):
                continue
            forming = self._forming
            if forming is not None and ts > _ts(forming):
                closed.append({**forming, "is_complete": True})  # a later bar began
                self._last_closed = _ts(forming)
                self._forming = None
            if candle.get("is_complete") is True:
                closed.append(dict(candle))
                self._last_closed = ts
                self._forming = None
            else:
                self._forming = candle
        return closed
