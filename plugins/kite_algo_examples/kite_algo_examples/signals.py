"""External trading signals: the wire shape and its validation. Pure: no I/O, never blocks.

A signal is one JSON object, written by another system into the watched folder or POSTed to the
strategy's HTTP endpoint::

    {"signal_id": "tv-2026-05-08-001", "symbol": "NSE:INFY", "side": "BUY", "quantity": 1,
     "product": "CNC", "order_type": "MARKET", "note": "breakout alert"}

``signal_id`` names the decision: it becomes the order's idempotency key
(``{run_id}:signal:{signal_id}``), so a signal delivered twice (a retried POST, a file copied
again, a crash between placing and filing) places one order. :func:`parse_signal` returns
either an :class:`AcceptedSignal` carrying the order to place or a :class:`RejectedSignal`
with a human-readable reason; it never raises for bad input.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from supervisor.client import OrderRuleError, limit_order, market_order

__all__ = ["AcceptedSignal", "RejectedSignal", "Signal", "parse_signal"]

MAX_SIGNAL_BYTES = 16 * 1024


class Signal(BaseModel):
    """The accepted shape of a signal (unknown keys are refused: a typo must not trade)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    signal_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    symbol: str = Field(pattern=r"^([A-Z]{2,4}:)?[A-Z0-9&_.-]{1,40}$")
    side: Literal["BUY", "SELL"]
    quantity: int = Field(gt=0)
    product: Literal["CNC", "MIS", "NRML"] = "CNC"
    order_type: Literal["MARKET", "LIMIT"] = "MARKET"
    price: float | None = Field(default=None, gt=0)
    note: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _price_matches_type(self) -> Signal:
        if self.order_type == "LIMIT" and self.price is None:
            raise ValueError("a LIMIT signal needs a price")
        if self.order_type == "MARKET" and self.price is not None:
            raise ValueError("a MARKET signal must not carry a price")
        return self

    @property
    def exchange_and_symbol(self) -> tuple[str, str]:
        exchange, sep, tradingsymbol = self.symbol.partition(":")
        return (exchange, tradingsymbol) if sep else ("NSE", self.symbol)


@dataclass(frozen=True)
class AcceptedSignal:
    signal: Signal
    order: dict[str, Any]


@dataclass(frozen=True)
class RejectedSignal:
    reason: str
    signal_id: str | None  # when the payload named one, for the decision log


def _signal_id_of(data: Any) -> str | None:
    value = data.get("signal_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "signal"
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse_signal(
    raw: bytes | str,
    *,
    allowed_symbols: Collection[str] = (),
    max_quantity: int = 100,
) -> AcceptedSignal | RejectedSignal:
    """Decode and check one signal. ``allowed_symbols`` (``EXCH:SYMBOL``; empty = any) and
    ``max_quantity`` are the strategy's own limits on what outsiders may ask for."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_SIGNAL_BYTES:
        return RejectedSignal(f"signal is {size} bytes, more than {MAX_SIGNAL_BYTES}", None)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        return RejectedSignal(f"not valid JSON: {exc}", None)
    if not isinstance(data, dict):
        return RejectedSignal("a signal must be a JSON object", None)
    signal_id = _signal_id_of(data)
    try:
        signal = Signal.model_validate(data)
    except ValidationError as exc:
        return RejectedSignal(_describe(exc), signal_id)
    exchange, tradingsymbol = signal.exchange_and_symbol
    if allowed_symbols and f"{exchange}:{tradingsymbol}" not in allowed_symbols:
        return RejectedSignal(f"symbol {exchange}:{tradingsymbol} is not in allowed_symbols", signal_id)
    if signal.quantity > max_quantity:
        return RejectedSignal(f"quantity {signal.quantity} exceeds max_quantity {max_quantity}", signal_id)
    try:
        if signal.order_type == "LIMIT":
            assert signal.price is not None  # checked by the model
            order = limit_order(
                exchange, tradingsymbol, signal.side, signal.product, signal.quantity, price=signal.price
            )
        else:
            order = market_order(exchange, tradingsymbol, signal.side, signal.product, signal.quantity)
    except OrderRuleError as exc:
        return RejectedSignal(f"order rule: {exc}", signal_id)
    return AcceptedSignal(signal, order)
