"""Completed bars out of a live candle stream. Pure: no I/O, never blocks.

Candle streams mostly carry the *forming* bar (``is_complete: false``) and revise it on every
tick; a bar is complete once a bar with a later timestamp shows up. :class:`BarCloser` turns any
mix of stream events (``{"candles": [...], "current": {...}}`` snapshots, ``{"candle": {...}}``
updates, or bare candles) into each completed bar exactly once, in time order. Re-delivered or
older bars (after a reconnect) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["BarCloser", "candles_in_event"]


def candles_in_event(event: Any) -> list[Mapping[str, Any]]:
    """The candles an event carries, oldest first (completed history, then the forming one)."""
    if not isinstance(event, Mapping):
        return []
    found: list[Mapping[str, Any]] = [c for c in event.get("candles") or [] if isinstance(c, Mapping)]
    for name in ("current", "candle"):
        candle = event.get(name)
        if isinstance(candle, Mapping):
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
