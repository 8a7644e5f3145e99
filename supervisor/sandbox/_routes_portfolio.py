"""HTTP routes for exit, P&L, funds, previews and order inspection (contract §4.6, §4.8-§4.10)."""

from __future__ import annotations

from typing import Any

from ._asgi import Request, Response, Router, json_response
from ._auth import account_for, parse_scope
from ._context import AppContext
from ._errors import ApiError, body_error
from ._loops import perform_exit
from ._orders_view import kite_order, kite_trade
from ._portfolio import NO_LIVE, account_funds, exit_plan, run_funds, run_pnl
from ._routes_runs import _nonce, _state
from ._runs import Run, check_mode, run_doc, session_guard


async def post_exit(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise body_error(["body", "dry_run"], "Input should be a valid boolean", "bool_type", dry_run)
    for name in ("reason", "idempotency_key"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise body_error(["body", name], "Input should be a valid string", "string_type", body[name])
    reason, key = body.get("reason"), body.get("idempotency_key")
    token = ctx.authenticate(request, "runs:exit")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    session_guard(run, _nonce(request))
    check_mode(token, run.execution_mode, "Worker token cannot exit runs in this execution mode")
    now = ctx.now()
    if dry_run and run.execution_mode == "paper":
        # Seed: dry_run previews the exit without placing (the reference paper path ignores it).
        plan = exit_plan(ctx.engine, run, reason, key, now)
        return json_response({"mode": "paper", "status": "dry_run", "exit": plan, "run": run_doc(run)})
    response = perform_exit(state, ctx.engine, run, reason, now)
    ctx.changed()
    return json_response(response)


async def get_pnl(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request, "runs:read")
    run = _state(ctx).run_for(token, request.path_params["run_id"])
    return json_response(run_pnl(ctx.engine, run, ctx.now()))


async def get_funds(request: Request, ctx: AppContext) -> Response:
    mode = (request.q("mode") or "paper").strip().lower()
    requested = request.q("account_scope")
    token = ctx.authenticate(request, "funds:read")
    check_mode(token, mode, "Worker token cannot read funds for this execution mode")
    scope, is_paper = account_for(
        token,
        requested,
        required="account_scope is required for worker funds",
        denied="Worker token cannot read this account scope",
    )
    if mode == "live" or not is_paper:
        raise ApiError(503, NO_LIVE)
    return json_response(account_funds(ctx.engine, scope, mode, ctx.now()))


async def get_run_funds(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request, "funds:read")
    run = _state(ctx).run_for(token, request.path_params["run_id"])
    check_mode(token, run.execution_mode, "Worker token cannot read funds for this execution mode")
    # live, or dry_run on a live scope: the reference server reads broker margins (§4.10)
    if run.execution_mode == "live" or not parse_scope(run.account_scope)[1]:
        raise ApiError(503, NO_LIVE)
    return json_response(run_funds(ctx.engine, run, ctx.now()))


def _paper_only(run: Run) -> None:
    if run.execution_mode == "live":
        raise ApiError(503, NO_LIVE)


async def preview_order(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    order = body.get("order")
    if not isinstance(order, dict):
        raise body_error(["body", "order"], "Field required", "missing", body)
    token = ctx.authenticate(request, "intents:submit")
    run = _state(ctx).run_for(token, request.path_params["run_id"])
    _paper_only(run)
    try:
        preview = ctx.engine.preview_order(run.account_scope, order, ctx.now())
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    # exactly OrderPreview's keys (strict in SDK 0.13, contract §1.6): a would-be rejection is
    # not reported here, the intent answers it
    return json_response(
        {"strategy_run_id": run.strategy_run_id, "mode": run.execution_mode, "preview": preview["preview"]}
    )


async def preview_basket(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    orders = body.get("orders")
    if not isinstance(orders, list):
        raise body_error(["body", "orders"], "Field required", "missing", body)
    token = ctx.authenticate(request, "intents:submit")
    run = _state(ctx).run_for(token, request.path_params["run_id"])
    _paper_only(run)
    try:
        preview = ctx.engine.preview_basket(
            run.account_scope, run.strategy_run_id, orders, bool(body.get("all_or_none", False)), ctx.now()
        )
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    return json_response(
        {"strategy_run_id": run.strategy_run_id, "mode": run.execution_mode, "preview": preview}
    )


def _run_from_query(request: Request, ctx: AppContext) -> Run:
    run_id = request.q("strategy_run_id")
    if not run_id:
        raise ApiError(
            422,
            [
                {
                    "type": "missing",
                    "loc": ["query", "strategy_run_id"],
                    "msg": "Field required",
                    "input": None,
                }
            ],
        )
    token = ctx.authenticate(request, "runs:read")
    run = _state(ctx).run_for(token, run_id)
    _paper_only(run)
    return run


def _orders_of(ctx: AppContext, run: Run) -> list[dict[str, Any]]:
    return [kite_order(o) for o in ctx.engine.orders(run.strategy_run_id)]


async def list_orders(request: Request, ctx: AppContext) -> Response:
    run = _run_from_query(request, ctx)
    return json_response({"strategy_run_id": run.strategy_run_id, "orders": _orders_of(ctx, run)})


async def list_trades(request: Request, ctx: AppContext) -> Response:
    run = _run_from_query(request, ctx)
    trades = [kite_trade(t) for t in ctx.engine.trades(run.strategy_run_id)]
    return json_response({"strategy_run_id": run.strategy_run_id, "trades": trades})


def _find_order(ctx: AppContext, run: Run, order_id: str) -> dict[str, Any]:
    for order in _orders_of(ctx, run):
        if order["order_id"] == order_id:
            return order
    raise ApiError(404, "Order not found for strategy run")


async def get_order(request: Request, ctx: AppContext) -> Response:
    run = _run_from_query(request, ctx)
    order = _find_order(ctx, run, request.path_params["order_id"])
    return json_response({"strategy_run_id": run.strategy_run_id, "order": order})


async def order_history(request: Request, ctx: AppContext) -> Response:
    run = _run_from_query(request, ctx)
    order_id = request.path_params["order_id"]
    history = [_find_order(ctx, run, order_id)]  # the paper book keeps only the current state
    return json_response({"strategy_run_id": run.strategy_run_id, "order_id": order_id, "history": history})


async def _mutate_order(request: Request, ctx: AppContext, action: str) -> Response:
    body = await request.json_object()
    run_id = body.get("strategy_run_id")
    if not isinstance(run_id, str) or not run_id:
        raise body_error(["body", "strategy_run_id"], "Field required", "missing", body)
    if (
        action == "modify"
        and "quantity" in body
        and (not isinstance(body["quantity"], int) or body["quantity"] <= 0)
    ):
        raise body_error(
            ["body", "quantity"], "Input should be greater than 0", "greater_than", body["quantity"], gt=0
        )
    token = ctx.authenticate(request, "intents:submit")
    state = _state(ctx)
    run = state.run_for(token, run_id)
    _paper_only(run)
    order_id = request.path_params["order_id"]
    _find_order(ctx, run, order_id)
    # Not session-guarded on the reference server (SDK 0.7.4 cannot send the nonce here); a
    # wrong nonce, when one is sent, is still refused.
    if _nonce(request):
        session_guard(run, _nonce(request))
    engine = ctx.engine
    now = ctx.now()
    try:
        if action == "cancel":
            engine.cancel_order(run.strategy_run_id, order_id, now)
        else:
            patch = {
                k: v for k, v in body.items() if k not in ("strategy_run_id", "variety", "parent_order_id")
            }
            engine.modify_order(run.strategy_run_id, order_id, patch, now)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    state.mark(run)
    state.engine_changed()
    ctx.changed()
    return json_response(
        {"strategy_run_id": run.strategy_run_id, "order_id": order_id, "result": {"order_id": order_id}}
    )


async def cancel_order(request: Request, ctx: AppContext) -> Response:
    return await _mutate_order(request, ctx, "cancel")


async def modify_order(request: Request, ctx: AppContext) -> Response:
    return await _mutate_order(request, ctx, "modify")


def register(router: Router) -> None:
    routes: list[tuple[str, str, Any]] = [
        ("POST", "/worker/runs/{run_id}/exit", post_exit),
        ("GET", "/worker/runs/{run_id}/pnl", get_pnl),
        ("GET", "/worker/runs/{run_id}/funds", get_run_funds),
        ("GET", "/worker/funds", get_funds),
        ("POST", "/worker/runs/{run_id}/preview/order", preview_order),
        ("POST", "/worker/runs/{run_id}/preview/basket", preview_basket),
        ("GET", "/worker/orders", list_orders),
        ("GET", "/worker/trades", list_trades),
        ("GET", "/worker/orders/{order_id}", get_order),
        ("GET", "/worker/orders/{order_id}/history", order_history),
        ("POST", "/worker/orders/{order_id}/cancel", cancel_order),
        ("POST", "/worker/orders/{order_id}/modify", modify_order),
    ]
    for method, path, handler in routes:
        router.add(method, path, handler)
