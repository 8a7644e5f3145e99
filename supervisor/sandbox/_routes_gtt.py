"""GTT trigger routes (contract §4.14) over the paper book; the rules are in ``_gtt``."""

from __future__ import annotations

from typing import Any

from ._asgi import Request, Response, Router, json_response
from ._auth import TokenRecord
from ._context import AppContext
from ._errors import rejection
from ._gtt import find_trigger, new_trigger, validate_gtt
from ._paper import PaperBook


def _auth(request: Request, ctx: AppContext, action: str, alternative: str) -> TokenRecord:
    token = ctx.authenticate(request)
    if not (token.allows(action) or token.allows(alternative)):
        raise rejection(403, "WORKER_ACTION_NOT_ALLOWED", required_action=action)
    return token


def _book(ctx: AppContext) -> PaperBook:
    return ctx.engine.book


def _find(ctx: AppContext, trigger_id: str) -> dict[str, Any]:
    return find_trigger(_book(ctx), trigger_id)


async def place(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    token = _auth(request, ctx, "gtt:write", "intents:submit")
    validate_gtt(body)
    gtt = new_trigger(_book(ctx), body, token.account_scope or "kite:paper", ctx.now())
    ctx.state.engine_changed()
    ctx.changed()
    return json_response({"trigger_id": gtt["id"]})


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


def register(router: Router) -> None:
    router.add("POST", "/worker/gtt/triggers", place)
    router.add("GET", "/worker/gtt/triggers", list_all)
    router.add("GET", "/worker/gtt/triggers/{trigger_id}", get_one)
    router.add("PUT", "/worker/gtt/triggers/{trigger_id}", modify)
    router.add("DELETE", "/worker/gtt/triggers/{trigger_id}", delete)
