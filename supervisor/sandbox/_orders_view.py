"""Paper orders and trades rendered as Kite order/trade objects (contract §4.8).

The paper engine speaks lower-case enums and Decimal strings (contract §4.5.4); the inspection
endpoints speak Kite: upper-case statuses (``OPEN``, ``COMPLETE``, ``CANCELLED``, ``REJECTED``,
``TRIGGER PENDING``, ``AMO REQ RECEIVED``), ``SL-M`` order types and numbers. Pure.
"""

from __future__ import annotations

from typing import Any

_STATUS = {
    "pending": "OPEN PENDING",
    "open": "OPEN",
    "partially_filled": "OPEN",
    "filled": "COMPLETE",
    "cancelled": "CANCELLED",
    "rejected": "REJECTED",
    "expired": "CANCELLED",
    "trigger_pending": "TRIGGER PENDING",
    "amo_queued": "AMO REQ RECEIVED",
}
_ORDER_TYPE = {"market": "MARKET", "limit": "LIMIT", "sl": "SL", "sl_m": "SL-M", "sl-m": "SL-M"}


def _f(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _i(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def kite_status(order: dict[str, Any]) -> str:
    raw = str(order.get("status") or "").lower()
    if raw == "open" and _ORDER_TYPE.get(str(order.get("order_type") or "").lower()) in ("SL", "SL-M"):
        triggered = (order.get("metadata") or {}).get("triggered")
        if not triggered:
            return "TRIGGER PENDING"
    return _STATUS.get(raw, raw.upper() or "OPEN")


def kite_order(order: dict[str, Any]) -> dict[str, Any]:
    meta = order.get("metadata") or {}
    quantity = _i(order.get("quantity"))
    filled = _i(order.get("filled_quantity"))
    status = kite_status(order)
    cancelled = quantity - filled if status == "CANCELLED" else 0
    return {
        "order_id": order.get("order_id"),
        "exchange_order_id": None,
        "parent_order_id": order.get("parent_order_id"),
        "status": status,
        "status_message": order.get("reason") or meta.get("reason"),
        "order_timestamp": order.get("placed_at"),
        "exchange_update_timestamp": order.get("updated_at"),
        "exchange_timestamp": order.get("completed_at"),
        "variety": order.get("variety") or meta.get("variety") or "regular",
        "exchange": order.get("exchange"),
        "tradingsymbol": order.get("tradingsymbol"),
        "instrument_token": order.get("instrument_token"),
        "order_type": _ORDER_TYPE.get(str(order.get("order_type") or "").lower(), order.get("order_type")),
        "transaction_type": str(order.get("transaction_type") or "").upper(),
        "validity": str(order.get("validity") or meta.get("validity") or "DAY").upper(),
        "product": order.get("product"),
        "quantity": quantity,
        "disclosed_quantity": _i(order.get("disclosed_quantity")),
        "price": _f(order.get("price")) or 0.0,
        "trigger_price": _f(order.get("trigger_price")) or 0.0,
        "average_price": _f(order.get("average_price")) or 0.0,
        "filled_quantity": filled,
        "pending_quantity": _i(order.get("pending_quantity"))
        if status not in ("CANCELLED", "REJECTED")
        else 0,
        "cancelled_quantity": cancelled,
        "market_protection": 0,
        "meta": {"paper": True, "paper_status": order.get("status")},
        "tag": None,
        "tags": [],
        "guid": None,
    }


def kite_trade(trade: dict[str, Any]) -> dict[str, Any]:
    return {
        "trade_id": trade.get("trade_id"),
        "order_id": trade.get("order_id"),
        "exchange": trade.get("exchange"),
        "tradingsymbol": trade.get("tradingsymbol"),
        "instrument_token": trade.get("instrument_token"),
        "product": trade.get("product"),
        "transaction_type": str(trade.get("transaction_type") or "").upper(),
        "average_price": _f(trade.get("price")),
        "quantity": _i(trade.get("quantity")),
        "order_timestamp": trade.get("trade_timestamp"),
        "exchange_timestamp": trade.get("trade_timestamp"),
        "fill_timestamp": trade.get("trade_timestamp"),
    }
