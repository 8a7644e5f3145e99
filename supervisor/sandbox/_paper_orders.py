"""Paper order records: validation, the stored record, fill rules and the charge schedule.

Pure functions used by ``_paper.PaperEngine``. Records are plain dicts in the reference paper
engine's shape (contract §4.5.4): lower-case ``transaction_type``/``order_type``, Decimal
strings for prices, the run id and attribution under ``metadata``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

REQUIRED = ("exchange", "tradingsymbol", "transaction_type", "product", "order_type", "quantity")


def normalise(order: dict[str, Any]) -> dict[str, Any]:
    """Check the paper path's field rules (§6.2 column P); raises ``ValueError`` (400)."""
    missing = [k for k in REQUIRED if order.get(k) in (None, "")]
    if missing:
        raise ValueError(f"Order is missing required fields: {', '.join(missing)}")
    quantity = order["quantity"]
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise ValueError("quantity must be a positive integer")
    order_type = str(order["order_type"]).upper()
    if order_type == "LIMIT" and order.get("price") is None:
        raise ValueError("LIMIT orders require price")
    if order_type == "SL" and (order.get("price") is None or order.get("trigger_price") is None):
        raise ValueError("SL orders require price and trigger_price")
    if order_type == "SL-M" and order.get("trigger_price") is None:
        raise ValueError("SL-M orders require trigger_price")
    check_seed_constraints(order, order_type, quantity)
    return {
        **order,
        "order_type": order_type,
        "product": str(order["product"]).upper(),
        "exchange": str(order["exchange"]).upper(),
        "transaction_type": str(order["transaction_type"]).lower(),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def check_seed_constraints(order: dict[str, Any], order_type: str, quantity: int) -> None:
    """The seed's documented "Field constraints" (SDK 0.7.4 README); ``ValueError`` (400).

    The reference paper path enforces none of them (§6.2, §11 #13) and its live path only some;
    a paper order a broker would refuse must not fill here, or a strategy bug stays hidden until
    it trades live.
    """
    price, trigger = _number(order.get("price")), _number(order.get("trigger_price"))
    if order_type in ("LIMIT", "SL") and not (price and price > 0):
        raise ValueError(f"price must be > 0 for {order_type} orders")
    if order_type in ("SL", "SL-M") and not (trigger and trigger > 0):
        raise ValueError(f"trigger_price must be > 0 for {order_type} orders")
    if order_type in ("MARKET", "SL-M") and order.get("price") not in (None, 0, 0.0):
        raise ValueError(f"{order_type} orders omit price or send 0")
    validity = str(order.get("validity") or "DAY").upper()
    ttl = order.get("validity_ttl")
    if validity == "TTL" and (not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= 365):
        raise ValueError("validity TTL needs validity_ttl in 1..365 (minutes)")
    disclosed = order.get("disclosed_quantity")
    if disclosed is not None and (not isinstance(disclosed, int) or not 0 <= disclosed <= quantity):
        raise ValueError("disclosed_quantity cannot exceed quantity")
    protection = order.get("market_protection")
    if protection is not None:
        if order_type not in ("MARKET", "SL-M"):
            raise ValueError("market_protection is allowed only for MARKET and SL-M orders")
        if not isinstance(protection, int) or not (protection == -1 or 0 <= protection <= 100):
            raise ValueError("market_protection must be -1 or 0..100")
    variety = str(order.get("variety") or "regular").lower()
    iceberg_fields = order.get("iceberg_legs") is not None or order.get("iceberg_quantity") is not None
    if variety == "amo" and iceberg_fields:
        raise ValueError("AMO orders cannot be combined with iceberg")
    if variety == "iceberg":
        legs, size = order.get("iceberg_legs"), order.get("iceberg_quantity")
        if not isinstance(legs, int) or not 2 <= legs <= 10:
            raise ValueError("iceberg orders need iceberg_legs in 2..10")
        if not isinstance(size, int) or size <= 0:
            raise ValueError("iceberg orders need a positive iceberg_quantity")
    if variety == "co" and (order.get("squareoff") is None or order.get("stoploss") is None):
        raise ValueError("CO orders require squareoff and stoploss")


def new_record(
    *,
    scope: str,
    run_id: str,
    order_id: str,
    order: dict[str, Any],
    token: int | None,
    lot_size: int,
    attribution: dict[str, Any] | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """The stored record of a normalised order (status ``open``)."""
    o = order
    return {
        "account_scope": scope,
        "order_id": order_id,
        "instrument_token": token,
        "exchange": o["exchange"],
        "tradingsymbol": o["tradingsymbol"],
        "product": o["product"],
        "transaction_type": o["transaction_type"],
        "order_type": o["order_type"].lower().replace("-", "_"),
        "variety": o.get("variety", "regular"),
        "validity": o.get("validity", "DAY"),
        "quantity": o["quantity"],
        "filled_quantity": 0,
        "pending_quantity": o["quantity"],
        "price": None if o.get("price") is None else str(o["price"]),
        "trigger_price": None if o.get("trigger_price") is None else str(o["trigger_price"]),
        "average_price": None,
        "parent_order_id": o.get("parent_order_id"),
        "status": "open",
        "placed_at": now.isoformat(),
        "updated_at": now.isoformat(),
        "completed_at": None,
        "metadata": {
            "strategy_run_id": run_id,
            "source": "algo_worker",
            "instrument_type": "EQ" if o["exchange"] == "NSE" else o["tradingsymbol"][-2:],
            "lot_size": lot_size,
            "attribution": attribution or {},
            "amo": o.get("variety") == "amo",
            "iceberg_quantity": o.get("iceberg_quantity"),
            "validity_ttl": o.get("validity_ttl"),
            "stoploss": o.get("stoploss"),
            "squareoff": o.get("squareoff"),
        },
    }


ORDER_TYPES = {"MARKET": "market", "LIMIT": "limit", "SL": "sl", "SL-M": "sl_m"}
VALIDITIES = ("DAY", "IOC", "TTL")


def _positive(value: Any) -> bool:
    try:
        return value is not None and float(value) > 0
    except (TypeError, ValueError):
        return False


def apply_modify(order: dict[str, Any], patch: dict[str, Any]) -> None:
    """Apply a modify patch to an open record, by the reference modify rules (§4.8).

    ``order_type``, ``price``, ``trigger_price``, ``quantity``, ``validity`` and ``validity_ttl``
    may change (other keys are ignored). The result must hold: LIMIT price > 0; SL price and
    trigger > 0; SL-M trigger > 0 and no price; TTL ``validity_ttl`` 1..365; quantity above what
    already filled. Raises ``ValueError`` (400) and leaves the record unchanged otherwise.
    """
    raw_type = patch.get("order_type")
    kind = order["order_type"]
    if raw_type is not None:
        kind = ORDER_TYPES.get(str(raw_type).upper(), "")
        if not kind:
            raise ValueError(f"Unsupported order_type '{raw_type}'")
    price = order["price"] if patch.get("price") is None else str(patch["price"])
    trigger = order["trigger_price"] if patch.get("trigger_price") is None else str(patch["trigger_price"])
    if kind in ("market", "sl_m") and not _positive(patch.get("price")):
        price = None  # no limit price on these (a 0 in the patch means none)
    if kind == "market":
        trigger = None
    if kind == "limit" and not _positive(price):
        raise ValueError("LIMIT orders require price > 0")
    if kind == "sl" and not (_positive(price) and _positive(trigger)):
        raise ValueError("SL orders require price > 0 and trigger_price > 0")
    if kind == "sl_m" and (not _positive(trigger) or _positive(patch.get("price"))):
        raise ValueError("SL-M orders require trigger_price > 0 and no price")
    validity = str(patch.get("validity") or order["validity"]).upper()
    if validity not in VALIDITIES:
        raise ValueError(f"Unsupported validity '{validity}'")
    ttl = patch.get("validity_ttl", order["metadata"].get("validity_ttl"))
    if validity == "TTL" and not (isinstance(ttl, int) and 1 <= ttl <= 365):
        raise ValueError("TTL orders require validity_ttl in 1..365")
    quantity = int(patch.get("quantity") or order["quantity"])
    if quantity <= int(order["filled_quantity"]):
        raise ValueError("quantity must exceed the filled quantity")
    order.update(
        order_type=kind,
        price=price,
        trigger_price=trigger,
        validity=validity,
        quantity=quantity,
        pending_quantity=quantity - int(order["filled_quantity"]),
    )
    order["metadata"]["validity_ttl"] = ttl


def marketable(order: dict[str, Any], last: float) -> bool:
    """Whether a record fills at ``last``: MARKET always, LIMIT when crossed, SL/SL-M once triggered."""
    buy = order["transaction_type"] == "buy"
    kind = order["order_type"]
    if kind == "market":
        return True
    if kind == "limit":
        return last <= float(order["price"]) if buy else last >= float(order["price"])
    trigger = float(order["trigger_price"])
    triggered = last >= trigger if buy else last <= trigger
    if not triggered:
        return False
    if kind == "sl":
        return last <= float(order["price"]) if buy else last >= float(order["price"])
    return True  # sl_m: market once triggered


def slices(order: dict[str, Any]) -> list[int]:
    """The trade quantities of a fill: iceberg orders fill in ``iceberg_quantity`` slices."""
    qty = int(order["quantity"])
    size = int(order["metadata"].get("iceberg_quantity") or 0) if order["variety"] == "iceberg" else 0
    if not size:
        return [qty]
    return [size] * (qty // size) + ([qty % size] if qty % size else [])


def charges_for(value: Decimal, product: str, side: str) -> Decimal:
    """A Zerodha-like schedule: brokerage 0.03 % capped at 20 (0 for CNC), STT, exchange, GST, stamp."""
    brokerage = Decimal(0) if product == "CNC" else min(Decimal(20), value * Decimal("0.0003"))
    stt = value * (Decimal("0.001") if product == "CNC" else (Decimal("0.00025") if side == "sell" else 0))
    exchange = value * Decimal("0.0000297")
    gst = (brokerage + exchange) * Decimal("0.18")
    stamp = value * Decimal("0.00015") if side == "buy" else Decimal(0)
    return (brokerage + stt + exchange + gst + stamp).quantize(Decimal("0.01"))


def cover_leg(entry: dict[str, Any], fill: Decimal) -> dict[str, Any] | None:
    """A cover order's protective SL-M exit (``stoploss`` points from the fill, or ``trigger_price``)."""
    points = entry["metadata"].get("stoploss")
    buy = entry["transaction_type"] == "buy"
    if points is not None:
        trigger = fill - Decimal(str(points)) if buy else fill + Decimal(str(points))
    elif entry.get("trigger_price") is not None:
        trigger = Decimal(entry["trigger_price"])
    else:
        return None
    return {
        "exchange": entry["exchange"],
        "tradingsymbol": entry["tradingsymbol"],
        "product": entry["product"],
        "transaction_type": "sell" if buy else "buy",
        "order_type": "SL-M",
        "quantity": entry["quantity"],
        "trigger_price": str(trigger),
        "variety": "co",
        "parent_order_id": entry["order_id"],
    }


def exit_order(position: dict[str, Any]) -> dict[str, Any]:
    """The MARKET order that flattens a position."""
    net = int(position["net_quantity"])
    return {
        "exchange": position["exchange"],
        "tradingsymbol": position["tradingsymbol"],
        "transaction_type": "SELL" if net > 0 else "BUY",
        "product": position["product"],
        "order_type": "MARKET",
        "quantity": abs(net),
        "variety": "regular",
    }
