"""GTT triggers on the built-in paper book (contract §4.14), with trigger evaluation on ticks.

Kept in the fallback engine's book so they persist with its snapshot. Served for every token
(see ``_fallback_routes``); the account is the token's scope, or ``kite:paper`` without one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._asgi import Request, Response, Router, json_response
from ._auth import TokenRecord
from ._context import AppContext
from ._errors import ApiError, rejection
from ._fallback_paper import EQUITIES

EXCHANGES = ("NSE", "BSE", "NFO", "CDS", "MCX")
PRODUCTS = ("CNC", "MIS", "NRML", "MTF")


def _auth(request: Request, ctx: AppContext, action: str, alternative: str) -> TokenRecord:
    token = ctx.authenticate(request)
    if not (token.allows(action) or token.allows(alternative)):
        raise rejection(403, "WORKER_ACTION_NOT_ALLOWED", required_action=action)
    return token


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


def _book(ctx: AppContext) -> Any:
    return ctx.engine.book


def _find(ctx: AppContext, trigger_id: str) -> dict[str, Any]:
    for gtt in _book(ctx).gtts:
        if str(gtt["id"]) == trigger_id and gtt["status"] != "deleted":
            found: dict[str, Any] = gtt
            return found
    raise rejection(
        404, "GTT_TRIGGER_NOT_FOUND", provider_status_code=404, provider_detail="Trigger not found"
    )


async def place(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    token = _auth(request, ctx, "gtt:write", "intents:submit")
    validate_gtt(body)
    book = _book(ctx)
    book.gtt_counter += 1
    now = ctx.now().isoformat()
    book.gtts.append(
        {
            "id": book.gtt_counter,
            "user_id": token.account_scope or "kite:paper",
            "parent_trigger": None,
            "type": body["type"],
            "created_at": now,
            "updated_at": now,
            "expires_at": None,
            "status": "active",
            "condition": body["condition"],
            "orders": body["orders"],
            "meta": {"sandbox": True},
        }
    )
    ctx.state.engine_changed()
    ctx.changed()
    return json_response({"trigger_id": book.gtt_counter})


async def list_all(request: Request, ctx: AppContext) -> Response:
    _auth(request, ctx, "gtt:read", "runs:read")
    return json_response([g for g in _book(ctx).gtts if g["status"] != "deleted"])


async def get_one(request: Request, ctx: AppContext) -> Response:
    _auth(request, ctx, "gtt:read", "runs:read")
    return json_response(_find(ctx, request.path_params["trigger_id"]))


async def modify(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    _auth(request, ctx, "gtt:write", "intents:submit")
    gtt = _find(ctx, request.path_params["trigger_id"])
    merged = {
        "type": body.get("type", gtt["type"]),
        "condition": {**gtt["condition"], **(body.get("condition") or {})},
        "orders": body.get("orders", gtt["orders"]),
    }
    validate_gtt(merged)
    gtt.update(merged, updated_at=ctx.now().isoformat())
    ctx.state.engine_changed()
    ctx.changed()
    return json_response({"trigger_id": gtt["id"]})


async def delete(request: Request, ctx: AppContext) -> Response:
    _auth(request, ctx, "gtt:write", "intents:submit")
    gtt = _find(ctx, request.path_params["trigger_id"])
    gtt.update(status="deleted", updated_at=ctx.now().isoformat())
    ctx.state.engine_changed()
    ctx.changed()
    return json_response({"trigger_id": gtt["id"]})


def evaluate(engine: Any, now: dt.datetime) -> bool:
    """Fire active GTTs whose trigger the last price crossed; returns whether any fired."""
    fired = False
    for gtt in engine.book.gtts:
        if gtt["status"] != "active":
            continue
        cond = gtt["condition"]
        symbol = cond.get("tradingsymbol")
        last = engine.market.ltp(symbol) if symbol in EQUITIES else None
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


def register(router: Router) -> None:
    router.add("POST", "/worker/gtt/triggers", place)
    router.add("GET", "/worker/gtt/triggers", list_all)
    router.add("GET", "/worker/gtt/triggers/{trigger_id}", get_one)
    router.add("PUT", "/worker/gtt/triggers/{trigger_id}", modify)
    router.add("DELETE", "/worker/gtt/triggers/{trigger_id}", delete)
