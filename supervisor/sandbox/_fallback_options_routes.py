"""The options namespace over the built-in fallback market (contract §4.15).

Registered only when SANDBOX-MARKET's routes are absent. Any valid token may call these routes
(no action check, 401 first, as on the reference server). Errors use ``{"detail": {"code",
"message"}}``. Options runs are kept in the fallback engine's book (persisted with it); entering
places the legs as one all-or-none paper basket under the options run's id, on the account scope
given in the request, else the token's scope, else ``kite:paper``. ``enter``/``exit`` apply the
session guard and the safety token only when a worker run with the same id exists (§4.15).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from ._asgi import Request, Response, Router, json_response
from ._context import AppContext
from ._errors import ApiError
from ._fallback_options import IST, UNDERLYINGS, contract, expiries, greeks, open_interest
from ._routes_runs import _nonce
from ._runs import session_guard
from ._safety import verify_token

STATUSES_ACTIVE = ("created", "entry_previewed", "entering", "entered", "partial_entry")


def _err(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, {"code": code, "message": message})


def _underlying(request: Request) -> str:
    name = request.path_params["underlying"].upper()
    if name not in UNDERLYINGS:
        raise _err(404, "OPTION_SESSION_NOT_FOUND", f"No option session for {name}")
    return name


def _pick_expiry(ctx: AppContext, selector: str | None) -> tuple[dt.date, bool]:
    today = ctx.now().astimezone(IST).date()
    all_expiries = expiries(today)
    monthly = [e for e in all_expiries if e[1]]
    sel = (selector or "nearest").strip().lower()
    table = {
        "nearest": all_expiries[0],
        "current_week": all_expiries[0],
        "weekly": all_expiries[0],
        "next_week": all_expiries[1],
        "current_month": monthly[0],
        "monthly": monthly[0],
        "next_month": monthly[1],
    }
    if sel in table:
        return table[sel]
    try:
        wanted = dt.date.fromisoformat(sel)
    except ValueError:
        raise _err(
            422, "OPTION_INVALID_EXPIRY_SELECTOR", f"Unsupported expiry selector '{selector}'"
        ) from None
    for found in all_expiries:
        if found[0] == wanted:
            return found
    raise _err(422, "OPTION_INVALID_EXPIRY_SELECTOR", f"No expiry on {selector}")


def _spot(ctx: AppContext, underlying: str) -> float:
    return float(ctx.market.spots[underlying])


def _contract_view(
    ctx: AppContext, underlying: str, expiry: dt.date, monthly: bool, *, strike: int, kind: str
) -> dict[str, Any]:
    c = contract(underlying, expiry, monthly, strike, kind)
    ctx.market.options.by_symbol[c.tradingsymbol] = c
    g = greeks(_spot(ctx, underlying), c, ctx.now())
    return {
        "token": c.instrument_token,
        "tsym": c.tradingsymbol,
        "oi": open_interest(c, _spot(ctx, underlying)),
        "updated_at": ctx.now().isoformat(),
        **g,
    }


def _strikes(ctx: AppContext, underlying: str, window: int = 20) -> tuple[int, list[int]]:
    step = UNDERLYINGS[underlying][2]
    atm = int(round(_spot(ctx, underlying) / step) * step)
    return atm, [atm + step * i for i in range(-window, window + 1)]


async def session(request: Request, ctx: AppContext) -> Response:
    ctx.authenticate(request)
    u = _underlying(request)
    exp = [d.isoformat() for d, _ in expiries(ctx.now().astimezone(IST).date())]
    return json_response(
        {
            "underlying": u,
            "expiries": exp,
            "spot_ltp": _spot(ctx, u),
            "updated_at": ctx.now().isoformat(),
            "snapshot": {
                "index": UNDERLYINGS[u][0],
                "lot_size": UNDERLYINGS[u][3],
                "strike_step": UNDERLYINGS[u][2],
            },
        }
    )


async def list_expiries(request: Request, ctx: AppContext) -> Response:
    ctx.authenticate(request)
    u = _underlying(request)
    exp = [d.isoformat() for d, _ in expiries(ctx.now().astimezone(IST).date())]
    return json_response(
        {"underlying": u, "expiries": exp, "spot_ltp": _spot(ctx, u), "updated_at": ctx.now().isoformat()}
    )


def _chain_rows(
    ctx: AppContext, u: str, expiry: dt.date, monthly: bool, strikes: list[int]
) -> list[dict[str, Any]]:
    return [
        {
            "strike": k,
            "ce": _contract_view(ctx, u, expiry, monthly, strike=k, kind="CE"),
            "pe": _contract_view(ctx, u, expiry, monthly, strike=k, kind="PE"),
        }
        for k in strikes
    ]


async def chain(request: Request, ctx: AppContext) -> Response:
    ctx.authenticate(request)
    u = _underlying(request)
    expiry, monthly = _pick_expiry(ctx, request.q("expiry"))
    atm, strikes = _strikes(ctx, u)
    return json_response(
        {
            "underlying": u,
            "expiry": expiry.isoformat(),
            "spot_ltp": _spot(ctx, u),
            "atm_strike": atm,
            "strikes": strikes,
            "chain": _chain_rows(ctx, u, expiry, monthly, strikes),
            "updated_at": ctx.now().isoformat(),
        }
    )


def _flat(rows: list[dict[str, Any]], u: str, expiry: dt.date) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        for kind in ("ce", "pe"):
            leg = row[kind]
            out.append(
                {
                    "underlying": u,
                    "expiry": expiry.isoformat(),
                    "strike": row["strike"],
                    "option_type": kind.upper(),
                    "tradingsymbol": leg["tsym"],
                    "instrument_token": leg["token"],
                    **{k: leg[k] for k in ("ltp", "iv", "oi", "delta", "gamma", "theta", "vega", "rho")},
                }
            )
    return out


async def mini_chain(request: Request, ctx: AppContext) -> Response:
    window = request.q_int("window", 5, ge=1, le=20) or 5
    ctx.authenticate(request)
    u = _underlying(request)
    expiry, monthly = _pick_expiry(ctx, request.q("expiry"))
    _, strikes = _strikes(ctx, u, window)
    contracts = _flat(_chain_rows(ctx, u, expiry, monthly, strikes), u, expiry)
    return json_response(
        {
            "underlying": u,
            "expiry": expiry.isoformat(),
            "window": window,
            "contracts": contracts,
            "updated_at": ctx.now().isoformat(),
        }
    )


async def get_greeks(request: Request, ctx: AppContext) -> Response:
    ctx.authenticate(request)
    u = _underlying(request)
    expiry, monthly = _pick_expiry(ctx, request.q("expiry"))
    _, strikes = _strikes(ctx, u, 10)
    contracts = _flat(_chain_rows(ctx, u, expiry, monthly, strikes), u, expiry)
    return json_response(
        {
            "underlying": u,
            "expiry": expiry.isoformat(),
            "contracts": contracts,
            "greeks_source": "black_scholes",
            "updated_at": ctx.now().isoformat(),
        }
    )


def _resolve_leg(
    ctx: AppContext, u: str, expiry: dt.date, monthly: bool, leg: dict[str, Any]
) -> dict[str, Any]:
    kind = str(leg.get("option_type", "")).upper()
    if kind not in ("CE", "PE"):
        raise _err(400, "OPTION_SELECTION_INVALID_OPTION_TYPE", "option_type must be CE or PE")
    step = UNDERLYINGS[u][2]
    atm, strikes = _strikes(ctx, u)
    spot = _spot(ctx, u)
    resolver = "strike"
    if leg.get("strike") is not None:
        strike = int(leg["strike"])
    elif leg.get("offset") is not None or leg.get("moneyness") is not None:
        resolver = "offset"
        raw = (
            str(leg.get("offset") or leg.get("moneyness"))
            .upper()
            .replace("_STRIKES", "")
            .replace("_STRIKE", "")
        )
        try:
            shift = 0 if raw == "ATM" else int(raw)
        except ValueError:
            raise _err(400, "OPTION_SELECTION_INVALID_OFFSET", f"Unsupported offset '{raw}'") from None
        strike = atm + shift * step
    elif leg.get("delta_target") is not None or leg.get("target_delta") is not None:
        resolver = "delta"
        target = abs(float(leg.get("delta_target") or leg.get("target_delta") or 0))
        strike = min(
            strikes,
            key=lambda k: abs(
                abs(greeks(spot, contract(u, expiry, monthly, k, kind), ctx.now())["delta"]) - target
            ),
        )
    else:
        raise _err(400, "OPTION_SELECTION_INVALID_LEG", "each leg needs strike, offset or delta_target")
    if strike % step:
        raise _err(422, "OPTION_SELECTION_UNRESOLVABLE", f"No {kind} contract at strike {strike}")
    c = contract(u, expiry, monthly, strike, kind)
    ctx.market.options.by_symbol[c.tradingsymbol] = c
    g = greeks(spot, c, ctx.now())
    return {
        "underlying": u,
        "expiry": expiry.isoformat(),
        "expiry_key": expiry.isoformat(),
        "strike": strike,
        "option_type": kind,
        "tradingsymbol": c.tradingsymbol,
        "instrument_token": c.instrument_token,
        "lot_size": c.lot_size,
        "tick_size": 0.05,
        "ltp": g["ltp"],
        "resolver": resolver,
        "resolution_meta": {"spot_ltp": spot, "atm_strike": atm, "delta": g["delta"]},
    }


async def resolve(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    ctx.authenticate(request)
    u = _underlying(request)
    expiry, monthly = _pick_expiry(ctx, body.get("expiry"))
    legs = body.get("legs") or []
    if not isinstance(legs, list) or not all(isinstance(leg, dict) for leg in legs):
        raise _err(400, "OPTION_SELECTION_INVALID_LEGS", "legs must be a list of objects")
    resolved = [_resolve_leg(ctx, u, expiry, monthly, leg) for leg in legs]
    return json_response(
        {
            "underlying": u,
            "expiry": expiry.isoformat(),
            "resolved": resolved,
            "count": len(resolved),
            "updated_at": ctx.now().isoformat(),
        }
    )


async def pcr(request: Request, ctx: AppContext) -> Response:
    ctx.authenticate(request)
    u = _underlying(request)
    expiry, monthly = _pick_expiry(ctx, request.q("expiry"))
    _, strikes = _strikes(ctx, u)
    rows = _chain_rows(ctx, u, expiry, monthly, strikes)
    calls = sum(r["ce"]["oi"] for r in rows) or 1
    value = round(sum(r["pe"]["oi"] for r in rows) / calls, 4)
    return json_response(
        {"underlying": u, "expiry": expiry.isoformat(), "value": value, "updated_at": ctx.now().isoformat()}
    )


async def max_pain(request: Request, ctx: AppContext) -> Response:
    ctx.authenticate(request)
    u = _underlying(request)
    expiry, monthly = _pick_expiry(ctx, request.q("expiry"))
    _, strikes = _strikes(ctx, u)
    rows = _chain_rows(ctx, u, expiry, monthly, strikes)

    def pain(at: int) -> float:
        return sum(  # type: ignore[no-any-return]
            max(0, at - r["strike"]) * r["ce"]["oi"] + max(0, r["strike"] - at) * r["pe"]["oi"] for r in rows
        )

    value = min(strikes, key=pain)
    return json_response(
        {"underlying": u, "expiry": expiry.isoformat(), "value": value, "updated_at": ctx.now().isoformat()}
    )


# -- options runs --------------------------------------------------------------------------------


def _runs(ctx: AppContext) -> dict[str, dict[str, Any]]:
    book = ctx.engine.book
    if not hasattr(book, "option_runs"):
        raise _err(503, "OPTION_RUNTIME_UNAVAILABLE", "Options runtime is not available")
    runs: dict[str, dict[str, Any]] = book.option_runs
    return runs


def _run(ctx: AppContext, run_id: str) -> dict[str, Any]:
    run = _runs(ctx).get(run_id)
    if run is None:
        raise _err(404, "OPTION_RUN_NOT_FOUND", f"Options run {run_id} not found")
    return run


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
    body = await request.json_object()
    token = ctx.authenticate(request)
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
        "account_scope": token.account_scope,
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
    await request.json(default={})
    ctx.authenticate(request)
    run = _run(ctx, request.path_params["run_id"])
    scope = run.get("account_scope") or "kite:paper"
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
    body = await request.json_object()
    token = ctx.authenticate(request)
    run_id = request.path_params["run_id"]
    run = _run(ctx, run_id)
    _guard(request, ctx, run_id, body)
    scope = body.get("account_scope") or run.get("account_scope") or token.account_scope or "kite:paper"
    now = ctx.now()
    if action == "enter":
        if run["status"] not in ("created", "entry_previewed"):
            raise _err(409, "OPTION_RUN_NOT_ENTERABLE", f"Options run is {run['status']}")
        result = ctx.engine.place_basket(scope, run_id, _orders(run), True, now)
        run.update(status="entered" if result["status"] == "success" else "failed", entry_result=result)
    else:
        result = ctx.engine.flatten_run(scope, run_id, now)
        run.update(
            status="exited" if result["status"] in ("success", "noop") else run["status"], exit_result=result
        )
    run["updated_at"] = now.isoformat()
    ctx.state.engine_changed()
    ctx.changed()
    return json_response({"strategy_run_id": run_id, "status": run["status"], "result": result})


async def enter(request: Request, ctx: AppContext) -> Response:
    return await _act(request, ctx, "enter")


async def exit_run(request: Request, ctx: AppContext) -> Response:
    return await _act(request, ctx, "exit")


async def preview_exit(request: Request, ctx: AppContext) -> Response:
    await request.json(default={})
    ctx.authenticate(request)
    run = _run(ctx, request.path_params["run_id"])
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
    ctx.authenticate(request)
    run = _run(ctx, request.path_params["run_id"])
    pnl = ctx.engine.run_pnl(run["strategy_run_id"], ctx.now())
    return json_response({**run, "pnl": pnl["totals"], "positions": pnl["legs"]})


async def put_protection(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    ctx.authenticate(request)
    run_id = request.path_params["run_id"]
    run = _run(ctx, run_id)
    if run_id in ctx.state.runs:
        session_guard(ctx.state.runs[run_id], _nonce(request))
    run.update(protection=body, updated_at=ctx.now().isoformat())
    ctx.state.engine_changed()
    ctx.changed()
    return json_response({"strategy_run_id": run_id, "protection": body})


def _evaluate(run: dict[str, Any], pnl: dict[str, Any]) -> dict[str, Any]:
    protection = run.get("protection") or {}
    premium = sum(abs(leg["net_quantity"]) * leg["average_price"] for leg in pnl["legs"]) or 0.0
    pnl_pct = pnl["totals"]["gross_pnl"] / premium * 100 if premium else 0.0
    rule = None
    if protection.get("stoploss_pct") is not None and pnl_pct <= -float(protection["stoploss_pct"]):
        rule = "stoploss_pct"
    elif protection.get("target_pct") is not None and pnl_pct >= float(protection["target_pct"]):
        rule = "target_pct"
    return {
        "applicable": bool(protection),
        "run_status": run["status"],
        "evaluation_mode": "run_state",
        "triggered": rule is not None,
        "blocking": rule is not None,
        "blocking_reason": "OPTIONS_PROTECTION_TRIGGERED" if rule else None,
        "matched_rule": rule and f"option:{rule}",
        "metrics": {"pnl_pct": pnl_pct, "premium": premium},
        "recommended_exit_orders_count": len(pnl["legs"]) if rule else 0,
    }


async def protection_state(request: Request, ctx: AppContext) -> Response:
    ctx.authenticate(request)
    run = _run(ctx, request.path_params["run_id"])
    evaluation = _evaluate(run, ctx.engine.run_pnl(run["strategy_run_id"], ctx.now()))
    return json_response(
        {"strategy_run_id": run["strategy_run_id"], "protection": run.get("protection"), **evaluation}
    )


async def replay(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    ctx.authenticate(request)
    run = dict(_run(ctx, request.path_params["run_id"]))
    if isinstance(body.get("protection"), dict):
        run["protection"] = body["protection"]
    out = []
    for snap in body.get("metric_snapshots") or []:
        gross = float((snap or {}).get("gross_pnl", 0.0))
        premium = float((snap or {}).get("premium", 1.0)) or 1.0
        legs = [{"net_quantity": 1, "average_price": premium}]
        out.append(_evaluate(run, {"legs": legs, "totals": {"gross_pnl": gross}}))
    return json_response({"strategy_run_id": run["strategy_run_id"], "evaluations": out})


async def preview_strategy(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    ctx.authenticate(request)
    legs = body.get("legs") or []
    priced = [
        {**leg, "ltp": ctx.market.ltp(str(leg.get("tradingsymbol")))} for leg in legs if isinstance(leg, dict)
    ]
    return json_response(
        {"strategy": body.get("strategy_name"), "legs": priced, "updated_at": ctx.now().isoformat()}
    )


def register(router: Router, ctx_extras: dict[str, Any] | None = None) -> None:
    base = "/worker/options/underlyings/{underlying}"
    for method, path, handler in [
        ("GET", f"{base}/session", session),
        ("GET", f"{base}/expiries", list_expiries),
        ("GET", f"{base}/chain", chain),
        ("GET", f"{base}/mini-chain", mini_chain),
        ("GET", f"{base}/greeks", get_greeks),
        ("POST", f"{base}/selection/resolve", resolve),
        ("GET", f"{base}/analytics/pcr", pcr),
        ("GET", f"{base}/analytics/max-pain", max_pain),
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


def options_run_status(engine: Any, run_id: str) -> str | None:
    """For the safety check: the status of an options run with this id, if any."""
    runs = getattr(getattr(engine, "book", None), "option_runs", None) or {}
    run = runs.get(run_id)
    return None if run is None else str(run["status"])
