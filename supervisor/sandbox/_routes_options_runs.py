"""Options runs (contract §4.15): create, preview/enter/exit, state and protection.

Any valid token may call these routes (no action check, 401 first, as on the reference server).
Errors use ``{"detail": {"code", "message"}}``. Options runs are kept in the paper engine's
book (persisted with it). ``enter``/``exit`` act on the account the request names, else the
run's (the token's scope at create), checked by the one scope rule of every route
(``_auth.account_for``), and in the mode the request names (``execution_mode`` or ``mode``), else
the worker run's with the same id, else ``paper``; the mode must be one of the token's. A paper
``enter`` places the legs as one all-or-none paper basket under the options run's id; a dry_run
``enter`` or ``exit`` validates and places nothing (``result.status: "validated"``), as a dry_run
worker intent. ``enter``/``exit`` apply the session guard and the safety token only when a
worker run with the same id exists, and then its execution timeline gets one ``order.updated``
event per leg placed (the contract leaves it undetermined; the run is the unit of attribution).
The safety check of a worker run includes the status of an
options run with the same id (``PaperEngine.option_run_status``).
"""

from __future__ import annotations

import secrets
from typing import Any

from ._asgi import Request, Response, Router, json_response
from ._auth import ALL_MODES, TokenRecord, account_for, scope_allowed
from ._context import AppContext
from ._errors import ApiError
from ._intents import record_execution_events
from ._options_protection import evaluate as evaluate_protection
from ._portfolio import NO_LIVE
from ._routes_runs import _nonce
from ._runs import session_guard
from ._safety import verify_token


def _err(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, {"code": code, "message": message})


def _runs(ctx: AppContext) -> dict[str, dict[str, Any]]:
    return ctx.engine.book.option_runs


def _run(ctx: AppContext, run_id: str, token: TokenRecord | None = None) -> dict[str, Any]:
    """The options run; 403 when it is on an account the token may not use (contract §2.4)."""
    run = _runs(ctx).get(run_id)
    if run is None:
        raise _err(404, "OPTION_RUN_NOT_FOUND", f"Options run {run_id} not found")
    account = run.get("account_scope")
    if token is not None and account and not scope_allowed(token.account_scope, account):
        raise _err(403, "OPTION_ACCOUNT_SCOPE_FORBIDDEN", "Worker token cannot access this account scope")
    return run


def _account(token: TokenRecord, requested: Any) -> str:
    """The paper account of an options action (``_auth.account_for``, errors in options form)."""
    try:
        scope, is_paper = account_for(
            token,
            str(requested) if requested else None,
            required="account_scope is required",
            denied="Worker token cannot access this account scope",
        )
    except ApiError as exc:
        code = "OPTION_ACCOUNT_SCOPE_FORBIDDEN" if exc.status == 403 else "OPTION_ACCOUNT_SCOPE_INVALID"
        raise _err(exc.status, code, str(exc.detail)) from None
    if not is_paper:  # a live account needs a broker session, which the sandbox never has
        raise _err(503, "OPTION_LIVE_SESSION_UNAVAILABLE", NO_LIVE)
    return scope


def _mode(ctx: AppContext, token: TokenRecord, run_id: str, body: dict[str, Any]) -> str:
    """The mode of an options action: named, else the same-id worker run's, else paper."""
    worker_run = ctx.state.runs.get(run_id)
    default = worker_run.execution_mode if worker_run else "paper"
    raw = body.get("execution_mode") or body.get("mode") or default
    mode = str(raw).strip().lower()
    if mode not in ALL_MODES:
        raise _err(403, "OPTION_EXECUTION_MODE_INVALID", f"Unsupported execution mode '{raw}'")
    if mode not in token.allowed_modes:
        raise _err(403, "OPTION_EXECUTION_MODE_FORBIDDEN", "Worker token cannot use this execution mode")
    if mode == "live":
        raise _err(503, "OPTION_LIVE_SESSION_UNAVAILABLE", NO_LIVE)
    return mode


def _orders(run: dict[str, Any]) -> list[dict[str, Any]]:
    keys = (
        "exchange",
        "tradingsymbol",
        "transaction_type",
        "quantity",
        "product",
        "order_type",
        "price",
        "trigger_price",
    )
    return [
        {**{k: leg.get(k) for k in keys if leg.get(k) is not None}, "variety": "regular"}
        for leg in run["legs"]
    ]


async def create_run(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request)
    body = await request.json_object()
    # the token's account unless the body names one; an unscoped token names it at enter
    scope = _account(token, body["account_scope"]) if body.get("account_scope") else token.account_scope
    legs = body.get("legs")
    if not isinstance(legs, list) or not legs or not isinstance(body.get("strategy_name"), str):
        raise _err(400, "OPTION_RUN_INVALID", "strategy_name and at least one leg are required")
    product = str(body.get("product") or "MIS").upper()
    run_id = str(body.get("strategy_run_id") or "optrun_" + secrets.token_hex(12))
    now = ctx.now().isoformat()
    run = {
        "strategy_run_id": run_id,
        "strategy_name": body["strategy_name"],
        "product": product,
        "status": "created",
        "legs": [
            {"exchange": "NFO", "order_type": "MARKET", **leg, "product": leg.get("product") or product}
            for leg in legs
            if isinstance(leg, dict)
        ],
        "protection": body.get("protection"),
        "metadata": body.get("metadata") or {},
        "account_scope": scope,
        "created_at": now,
        "updated_at": now,
        "entry_result": None,
        "exit_result": None,
    }
    _runs(ctx)[run_id] = run
    ctx.state.engine_changed()
    ctx.changed()
    return json_response(run)


async def preview_entry(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request)
    body = await request.json(default={})
    run = _run(ctx, request.path_params["run_id"], token)
    requested = body.get("account_scope") if isinstance(body, dict) else None
    scope = _account(token, requested or run.get("account_scope"))
    previews = [ctx.engine.preview_order(scope, order, ctx.now()) for order in _orders(run)]
    if run["status"] == "created":
        run["status"] = "entry_previewed"
    return json_response(
        {
            "strategy_run_id": run["strategy_run_id"],
            "status": run["status"],
            "orders": _orders(run),
            "previews": previews,
        }
    )


def _guard(request: Request, ctx: AppContext, run_id: str, body: dict[str, Any]) -> None:
    worker_run = ctx.state.runs.get(run_id)
    if worker_run is None:
        return
    session_guard(worker_run, _nonce(request))
    if body.get("safety_token"):
        verify_token(
            worker_run, str(body["safety_token"]), ctx.now(), ctx.state.secret, _run(ctx, run_id)["status"]
        )


async def _act(request: Request, ctx: AppContext, action: str) -> Response:
    token = ctx.authenticate(request)
    body = await request.json_object()
    run_id = request.path_params["run_id"]
    run = _run(ctx, run_id, token)
    _guard(request, ctx, run_id, body)
    scope = _account(token, body.get("account_scope") or run.get("account_scope"))
    mode = _mode(ctx, token, run_id, body)
    now = ctx.now()
    if action == "enter" and run["status"] not in ("created", "entry_previewed"):
        raise _err(409, "OPTION_RUN_NOT_ENTERABLE", f"Options run is {run['status']}")
    if mode == "dry_run":
        # nothing is placed, as for a dry_run worker intent (contract §4.5.4)
        result: dict[str, Any] = {
            "mode": "dry_run",
            "status": "validated",
            "mutated_state": False,
            "orders": _orders(run) if action == "enter" else [],
        }
        run.update(status="entered" if action == "enter" else "exited")
    elif action == "enter":
        result = ctx.engine.place_basket(scope, run_id, _orders(run), True, now)
        run.update(status="entered" if result["status"] == "success" else "failed")
    else:
        result = ctx.engine.flatten_run(scope, run_id, now)
        if result["status"] in ("success", "noop"):
            run.update(status="exited")
    run.update({"entry_result" if action == "enter" else "exit_result": result, "execution_mode": mode})
    run["updated_at"] = now.isoformat()
    worker_run = ctx.state.runs.get(run_id)
    if worker_run is not None and mode != "dry_run":
        # the legs are the worker run's orders too: its execution timeline shows them, as it
        # shows its own intents' orders (the cockpit's "last order" reads it)
        record_execution_events(ctx.state, worker_run, result, now)
    ctx.state.engine_changed()
    ctx.changed()
    return json_response({"strategy_run_id": run_id, "status": run["status"], "result": result})


async def enter(request: Request, ctx: AppContext) -> Response:
    return await _act(request, ctx, "enter")


async def exit_run(request: Request, ctx: AppContext) -> Response:
    return await _act(request, ctx, "exit")


async def preview_exit(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request)
    await request.json(default={})
    run = _run(ctx, request.path_params["run_id"], token)
    legs = ctx.engine.run_pnl(run["strategy_run_id"], ctx.now())["legs"]
    orders = [
        {
            "exchange": leg["exchange"],
            "tradingsymbol": leg["tradingsymbol"],
            "product": leg["product"],
            "transaction_type": "SELL" if leg["net_quantity"] > 0 else "BUY",
            "order_type": "MARKET",
            "quantity": abs(leg["net_quantity"]),
        }
        for leg in legs
        if leg["net_quantity"]
    ]
    return json_response(
        {"strategy_run_id": run["strategy_run_id"], "status": run["status"], "orders": orders}
    )


async def state(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request)
    run = _run(ctx, request.path_params["run_id"], token)
    pnl = ctx.engine.run_pnl(run["strategy_run_id"], ctx.now())
    return json_response({**run, "pnl": pnl["totals"], "positions": pnl["legs"]})


async def put_protection(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request)
    body = await request.json_object()
    run_id = request.path_params["run_id"]
    run = _run(ctx, run_id, token)
    if run_id in ctx.state.runs:
        session_guard(ctx.state.runs[run_id], _nonce(request))
    run.update(protection=body, updated_at=ctx.now().isoformat())
    ctx.state.engine_changed()
    ctx.changed()
    return json_response({"strategy_run_id": run_id, "protection": body})


async def protection_state(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request)
    run = _run(ctx, request.path_params["run_id"], token)
    evaluation = evaluate_protection(run, ctx.engine.run_pnl(run["strategy_run_id"], ctx.now()))
    return json_response(
        {"strategy_run_id": run["strategy_run_id"], "protection": run.get("protection"), **evaluation}
    )


async def replay(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request)
    body = await request.json_object()
    run = dict(_run(ctx, request.path_params["run_id"], token))
    if isinstance(body.get("protection"), dict):
        run["protection"] = body["protection"]
    out = []
    for snap in body.get("metric_snapshots") or []:
        gross = float((snap or {}).get("gross_pnl", 0.0))
        premium = float((snap or {}).get("premium", 1.0)) or 1.0
        legs = [{"net_quantity": 1, "average_price": premium}]
        out.append(evaluate_protection(run, {"legs": legs, "totals": {"gross_pnl": gross}}))
    return json_response({"strategy_run_id": run["strategy_run_id"], "evaluations": out})


async def preview_strategy(request: Request, ctx: AppContext) -> Response:
    ctx.authenticate(request)
    body = await request.json_object()
    legs = body.get("legs") or []
    priced = [
        {**leg, "ltp": ctx.market.ltp(str(leg.get("tradingsymbol")))} for leg in legs if isinstance(leg, dict)
    ]
    return json_response(
        {"strategy": body.get("strategy_name"), "legs": priced, "updated_at": ctx.now().isoformat()}
    )


def register(router: Router) -> None:
    for method, path, handler in [
        ("POST", "/worker/options/strategies/preview", preview_strategy),
        ("POST", "/worker/options/runs", create_run),
        ("POST", "/worker/options/runs/{run_id}/preview-entry", preview_entry),
        ("POST", "/worker/options/runs/{run_id}/enter", enter),
        ("POST", "/worker/options/runs/{run_id}/preview-exit", preview_exit),
        ("POST", "/worker/options/runs/{run_id}/exit", exit_run),
        ("GET", "/worker/options/runs/{run_id}/state", state),
        ("PUT", "/worker/options/runs/{run_id}/protection", put_protection),
        ("GET", "/worker/options/runs/{run_id}/protection/state", protection_state),
        ("POST", "/worker/options/runs/{run_id}/protection/replay", replay),
    ]:
        router.add(method, path, handler)
