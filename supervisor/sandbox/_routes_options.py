"""Options market routes (contract §4.15): session, expiries, chain, greeks, selection, analytics.

Any valid token may call these routes (no action check, 401 first, as on the reference server).
Errors use ``{"detail": {"code", "message"}}``. Prices and greeks are Black-Scholes over the
live index spot (``_options_chain``); open interest is synthetic. Options runs are in
``_routes_options_runs``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._asgi import Request, Response, Router, json_response
from ._calendar import Expiry, lot_size
from ._context import AppContext
from ._errors import ApiError
from ._options_chain import UNDERLYINGS, contract, greeks, open_interest


def _err(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, {"code": code, "message": message})


def _underlying(request: Request) -> str:
    name = request.path_params["underlying"].upper()
    if name not in UNDERLYINGS:
        raise _err(404, "OPTION_SESSION_NOT_FOUND", f"No option session for {name}")
    return name


def _trading_expiries(ctx: AppContext, underlying: str) -> list[Expiry]:
    """The underlying's expiries still trading now (an expiry leaves at its close)."""
    return ctx.market.hours.calendar.expiries(underlying, ctx.now())


def _pick_expiry(ctx: AppContext, underlying: str, selector: str | None) -> tuple[dt.date, bool]:
    all_expiries = [(e.date, e.monthly) for e in _trading_expiries(ctx, underlying)]
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
    if all_expiries and wanted < all_expiries[0][0]:
        raise _err(
            422, "OPTION_INVALID_EXPIRY_SELECTOR", f"{underlying} contracts of {selector} have expired"
        )
    raise _err(422, "OPTION_INVALID_EXPIRY_SELECTOR", f"No {underlying} expiry on {selector}")


def _spot(ctx: AppContext, underlying: str) -> float:
    return float(ctx.market.spots[underlying])


def _contract_view(
    ctx: AppContext, underlying: str, expiry: dt.date, monthly: bool, *, strike: int, kind: str
) -> dict[str, Any]:
    c = contract(underlying, expiry, monthly, strike, kind)
    ctx.market.options.add(c)
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
    trading = _trading_expiries(ctx, u)
    exp = [e.date.isoformat() for e in trading]
    return json_response(
        {
            "underlying": u,
            "expiries": exp,
            "spot_ltp": _spot(ctx, u),
            "updated_at": ctx.now().isoformat(),
            "snapshot": {
                "index": UNDERLYINGS[u][0],
                "lot_size": lot_size(u, trading[0].date),  # the nearest contract's lot
                "strike_step": UNDERLYINGS[u][2],
            },
        }
    )


async def list_expiries(request: Request, ctx: AppContext) -> Response:
    ctx.authenticate(request)
    u = _underlying(request)
    exp = [e.date.isoformat() for e in _trading_expiries(ctx, u)]
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
    expiry, monthly = _pick_expiry(ctx, u, request.q("expiry"))
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
    expiry, monthly = _pick_expiry(ctx, u, request.q("expiry"))
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
    expiry, monthly = _pick_expiry(ctx, u, request.q("expiry"))
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
    ctx.market.options.add(c)
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
    ctx.authenticate(request)
    body = await request.json_object()
    u = _underlying(request)
    expiry, monthly = _pick_expiry(ctx, u, body.get("expiry"))
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
    expiry, monthly = _pick_expiry(ctx, u, request.q("expiry"))
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
    expiry, monthly = _pick_expiry(ctx, u, request.q("expiry"))
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


def register(router: Router) -> None:
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
    ]:
        router.add(method, path, handler)
