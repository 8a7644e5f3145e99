"""GTT trigger routes (contract §4.14) over the paper book; the rules are in ``_gtt``.

The account is the token's own scope, as on the reference server: no scope → 403
``WORKER_ACCOUNT_SCOPE_REQUIRED``, an unparsable one → 400 ``WORKER_ACCOUNT_SCOPE_UNSUPPORTED``, a
live one → 503 ``WORKER_KITE_SESSION_UNAVAILABLE`` (the sandbox has no broker). A paper scope,
which the reference server refuses (400), is served on the paper book (README choice 17).
"""

from __future__ import annotations

from typing import Any

from ._asgi import Request, Response, Router, json_response
from ._auth import TokenRecord, parse_scope
from ._context import AppContext
from ._errors import body_error, rejection
from ._gtt import find_trigger, new_trigger, triggers_of, validate_gtt
from ._paper import PaperBook


def _auth(request: Request, ctx: AppContext, action: str, alternative: str) -> tuple[TokenRecord, str]:
    """The token and its GTT account (module docstring)."""
    token = ctx.authenticate(request)
    if not (token.allows(action) or token.allows(alternative)):
        raise rejection(403, "WORKER_ACTION_NOT_ALLOWED", required_action=action)
    if not token.account_scope:
        raise rejection(403, "WORKER_ACCOUNT_SCOPE_REQUIRED")
    try:
        scope, is_paper = parse_scope(token.account_scope)
    except ValueError:
        raise rejection(400, "WORKER_ACCOUNT_SCOPE_UNSUPPORTED") from None
    if not is_paper:
        raise rejection(503, "WORKER_KITE_SESSION_UNAVAILABLE")
    return token, scope


def _book(ctx: AppContext) -> PaperBook:
    return ctx.engine.book


def _find(request: Request, ctx: AppContext, account: str) -> dict[str, Any]:
    return find_trigger(_book(ctx), request.path_params["trigger_id"], account)


def _trigger_id(request: Request) -> None:
    """422 for a non-integer trigger id (an ``int`` path parameter on the reference server)."""
    raw = request.path_params["trigger_id"]
    if not raw.isdigit():
        msg = "Input should be a valid integer, unable to parse string as an integer"
        raise body_error(["path", "trigger_id"], msg, "int_parsing", raw)


async def place(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    _, account = _auth(request, ctx, "gtt:write", "intents:submit")
    validate_gtt(body)
    gtt = new_trigger(_book(ctx), body, account, ctx.now())
    ctx.state.engine_changed()
    ctx.changed()
    return json_response({"trigger_id": gtt["id"]})


async def list_all(request: Request, ctx: AppContext) -> Response:
    _, account = _auth(request, ctx, "gtt:read", "runs:read")
    return json_response(triggers_of(_book(ctx), account))


async def get_one(request: Request, ctx: AppContext) -> Response:
    _trigger_id(request)
    _, account = _auth(request, ctx, "gtt:read", "runs:read")
    return json_response(_find(request, ctx, account))


async def modify(request: Request, ctx: AppContext) -> Response:
    _trigger_id(request)
    body = await request.json_object()
    _, account = _auth(request, ctx, "gtt:write", "intents:submit")
    gtt = _find(request, ctx, account)
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
    _trigger_id(request)
    _, account = _auth(request, ctx, "gtt:write", "intents:submit")
    gtt = _find(request, ctx, account)
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
