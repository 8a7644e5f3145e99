"""GTT triggers on the paper book (contract §4.14), with trigger evaluation on each market step.

Kept in the paper engine's book so they persist with its snapshot. Served for tokens with a paper
scope (the reference server requires a live-scope token and a broker session); the account is
the token's scope, and a token sees only its account's triggers (``_routes_gtt``). Invalid
bodies are 400 ``GTT_REQUEST_INVALID`` (the reference server lets them escape as a 500). A
fired trigger places its LIMIT order on the paper engine under run id ``gtt:<id>``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._errors import ApiError, rejection
from ._paper import PaperBook, PaperEngine

EXCHANGES = ("NSE", "BSE", "NFO", "CDS", "MCX")
PRODUCTS = ("CNC", "MIS", "NRML", "MTF")


def validate_gtt(body: dict[str, Any]) -> None:
    """The reference rules; violations are ``GTT_REQUEST_INVALID`` (400) here, not a 500."""

    def invalid(detail: str) -> ApiError:
        return rejection(400, "GTT_REQUEST_INVALID", provider_status_code=400, provider_detail=detail)

    kind = body.get("type")
    condition = body.get("condition")
    orders = body.get("orders")
    if kind not in ("single", "two-leg"):
        raise invalid("type must be 'single' or 'two-leg'")
    if not isinstance(condition, dict) or not isinstance(orders, list):
        raise invalid("condition and orders are required")
    expected = 1 if kind == "single" else 2
    values = condition.get("trigger_values")
    if not isinstance(values, list) or len(values) != expected or len(orders) != expected:
        raise invalid(f"{kind} GTT needs exactly {expected} trigger value(s) and order(s)")
    for order in orders:
        if not isinstance(order, dict):
            raise invalid("orders must be objects")
        if order.get("order_type") != "LIMIT":
            raise invalid("GTT orders must be LIMIT")
        if not isinstance(order.get("quantity"), int) or order["quantity"] <= 0:
            raise invalid("quantity must be > 0")
        if not isinstance(order.get("price"), int | float) or order["price"] <= 0:
            raise invalid("price must be > 0")
        if order.get("exchange") not in EXCHANGES or order.get("product") not in PRODUCTS:
            raise invalid("unsupported exchange or product")
        if order.get("transaction_type") not in ("BUY", "SELL"):
            raise invalid("transaction_type must be BUY or SELL")


def new_trigger(book: PaperBook, body: dict[str, Any], user_id: str, now: dt.datetime) -> dict[str, Any]:
    """Store a validated GTT as ``active``; returns it (its ``id`` is the new trigger id)."""
    book.gtt_counter += 1
    at = now.isoformat()
    gtt = {
        "id": book.gtt_counter,
        "user_id": user_id,
        "parent_trigger": None,
        "type": body["type"],
        "created_at": at,
        "updated_at": at,
        "expires_at": None,
        "status": "active",
        "condition": body["condition"],
        "orders": body["orders"],
        "meta": {"sandbox": True},
    }
    book.gtts.append(gtt)
    return gtt


def triggers_of(book: PaperBook, account: str) -> list[dict[str, Any]]:
    """The account's triggers that are not deleted, oldest first."""
    return [g for g in book.gtts if g["user_id"] == account and g["status"] != "deleted"]


def find_trigger(book: PaperBook, trigger_id: str, account: str) -> dict[str, Any]:
    """The account's live (not deleted) trigger; raises 404 ``GTT_TRIGGER_NOT_FOUND``.

    Another account's trigger is not found either: GTTs belong to a broker account, and one
    worker token must not read or change another account's triggers.
    """
    for gtt in triggers_of(book, account):
        if str(gtt["id"]) == trigger_id:
            found: dict[str, Any] = gtt
            return found
    raise rejection(
        404, "GTT_TRIGGER_NOT_FOUND", provider_status_code=404, provider_detail="Trigger not found"
    )


def evaluate(engine: PaperEngine, now: dt.datetime) -> bool:
    """Fire active GTTs whose trigger the last price crossed; returns whether any fired. Pure."""
    fired = False
    for gtt in engine.book.gtts:
        if gtt["status"] != "active":
            continue
        cond = gtt["condition"]
        symbol = cond.get("tradingsymbol")
        last = engine.market.ltp(symbol) if isinstance(symbol, str) else None
        if last is None:
            continue
        values = [float(v) for v in cond["trigger_values"]]
        leg = None
        if gtt["type"] == "single":
            reference = float(cond.get("last_price") or last)
            if (reference < values[0] <= last) or (reference > values[0] >= last):
                leg = 0
        elif last <= values[0]:
            leg = 0
        elif last >= values[1]:
            leg = 1
        if leg is None:
            continue
        order = gtt["orders"][leg]
        result = engine.place_order(gtt["user_id"], f"gtt:{gtt['id']}", dict(order), now)
        order["result"] = {
            "order_result": {"order_id": result["order"]["order_id"], "status": result["status"]}
        }
        gtt.update(status="triggered", updated_at=now.isoformat())
        fired = True
    return fired
