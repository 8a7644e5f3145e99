"""P&L, funds, exits, previews and order inspection for runs (contract §4.6, §4.8-§4.10).

Pure; the paper engine is passed in. Response shapes follow the reference server, with these
documented choices (see the sandbox README):

* P&L: exactly the keys of SDK 0.7.4's strict ``WorkerRunPnlSnapshot`` (no ``brokerage``/
  ``taxes`` that the seed lists: they would break ``get_run_pnl_snapshot``).
* Funds: exactly the reference snapshot's keys (SDK 0.7.4 and 0.13's ``WorkerFundsSnapshot`` and
  ``WorkerFundsSegment`` are strict); the seed's ``available``/``utilized``/``net`` are not served
  (contract §11 #7; our client adds ``net``). Run funds: the reference keys only.
* Exit with ``dry_run=True`` on a paper run previews the flatten without placing (seed); the
  reference server ignores the flag for paper runs and flattens.
* Previews, orders, trades, cancel and modify are served for paper runs (the seed documents them
  on a paper run; the reference server answers 409 "only supported for live runs").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._errors import ApiError
from ._paper import PaperEngine
from ._runs import Run, iso

EPOCH = "1970-01-01T00:00:00+00:00"
TOTAL_KEYS = ("realized_pnl", "unrealized_pnl", "gross_pnl", "charges", "net_pnl")
LEG_KEYS = (
    "instrument_token",
    "exchange",
    "tradingsymbol",
    "product",
    "net_quantity",
    "side",
    "average_price",
    "last_price",
    "realized_pnl",
    "unrealized_pnl",
    "gross_pnl",
    "charges",
    "net_pnl",
    "broker_net_quantity",
    "is_stale",
    "last_reconciled_at",
)
SEGMENT_KEYS = (  # WorkerFundsSegment's (strict in both SDKs, contract §1.6)
    "net",
    "available_cash",
    "opening_balance",
    "live_balance",
    "collateral",
    "utilised",
    "m2m_realised",
    "m2m_unrealised",
)
NO_LIVE = "No live Kite broker session is available for this worker account_scope"


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def empty_pnl(run: Run, *, realtime: bool, updated_at: str | None) -> dict[str, Any]:
    return {
        "strategy_run_id": run.strategy_run_id,
        "execution_mode": run.execution_mode,
        "status": run.status,
        "currency": "INR",
        "totals": dict.fromkeys(TOTAL_KEYS, 0.0),
        "legs": [],
        "position_count": 0,
        "is_realtime": realtime,
        "is_stale": False,
        "updated_at": updated_at or EPOCH,
    }


def run_pnl(engine: PaperEngine, run: Run, now: dt.datetime) -> dict[str, Any]:
    """The grouped run P&L snapshot (every key always present, exactly the model's keys)."""
    if run.execution_mode == "dry_run":
        return empty_pnl(run, realtime=False, updated_at=iso(run.updated_at or run.created_at))
    if run.execution_mode != "paper":
        raise ApiError(503, NO_LIVE)
    raw = engine.run_pnl(run.strategy_run_id, now)
    snapshot = empty_pnl(run, realtime=True, updated_at=iso(now))
    if not raw:
        return snapshot
    legs = []
    for leg in raw.get("legs") or []:
        if int(_num(leg.get("net_quantity"))) == 0:
            continue
        item = {k: leg.get(k) for k in LEG_KEYS}
        for k in ("average_price", "last_price", *TOTAL_KEYS):
            item[k] = _num(item[k])
        item["net_quantity"] = int(_num(item["net_quantity"]))
        item["side"] = item["side"] or ("LONG" if item["net_quantity"] > 0 else "SHORT")
        item["is_stale"] = bool(item["is_stale"])
        legs.append(item)
    totals = raw.get("totals") or {}
    snapshot["totals"] = {k: _num(totals.get(k)) for k in TOTAL_KEYS}
    snapshot["legs"] = legs
    snapshot["position_count"] = len(legs)
    snapshot["is_stale"] = bool(raw.get("is_stale", False))
    if raw.get("updated_at"):
        snapshot["updated_at"] = str(raw["updated_at"])
    return snapshot


def account_funds(engine: PaperEngine, scope: str, mode: str, now: dt.datetime) -> dict[str, Any]:
    """``GET /worker/funds`` for a paper scope: exactly the reference snapshot's keys."""
    raw = dict(engine.funds(scope, now))
    segments = {
        name: {k: segment.get(k) for k in SEGMENT_KEYS}
        for name, segment in (raw.get("segments") or {}).items()
    }
    equity = segments.get("equity") or {}
    snapshot: dict[str, Any] = {
        "account_scope": scope,
        "mode": mode,
        "currency": "INR",
        "source": raw.get("source", "paper_runtime"),
        "segments": segments,
        "allocation": raw.get("allocation")
        or {
            "usable_equity_cash": _num(equity.get("available_cash")),
            "max_new_position_value": _num(equity.get("available_cash")),
        },
        "stale": bool(raw.get("stale", False)),
        "updated_at": raw.get("updated_at") or iso(now),
    }
    return snapshot


def allocation_cap(run: Run) -> float | None:
    candidates = [
        run.metadata.get("allocation_cap"),
        run.metadata.get("allocation_cap_inr"),
        (run.runtime_state.get("allocation") or {}).get("cap")
        if isinstance(run.runtime_state.get("allocation"), dict)
        else None,
        run.runtime_state.get("allocation_cap"),
    ]
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None


def run_funds(engine: PaperEngine, run: Run, now: dt.datetime) -> dict[str, Any]:
    """``GET /worker/runs/{id}/funds``: account funds + the run's exposure and allocation."""
    funds = account_funds(engine, run.account_scope, run.execution_mode, now)
    pnl = run_pnl(engine, run, now)
    gross = sum(abs(leg["net_quantity"]) * (leg["last_price"] or leg["average_price"]) for leg in pnl["legs"])
    net = sum(leg["net_quantity"] * (leg["last_price"] or leg["average_price"]) for leg in pnl["legs"])
    cap = allocation_cap(run)
    remaining = None if cap is None else max(0.0, cap - gross)
    allocation = {"cap": cap, "used": gross, "remaining": remaining, "basis": "gross_exposure"}
    totals = pnl["totals"]
    strategy = {
        "strategy_run_id": run.strategy_run_id,
        "status": run.status,
        "gross_exposure": gross,
        "net_exposure": net,
        "realized_pnl": totals["realized_pnl"],
        "unrealized_pnl": totals["unrealized_pnl"],
        "net_pnl": totals["net_pnl"],
        "estimated_margin_used": None,
        "allocation": dict(allocation),
        "pnl": dict(totals),
        "position_count": pnl["position_count"],
        "is_stale": pnl["is_stale"],
    }
    funds["strategy_run_id"] = run.strategy_run_id
    funds["strategy"] = strategy
    funds["allocation"] = {**funds["allocation"], "run": allocation}
    return funds


def exit_plan(
    engine: PaperEngine, run: Run, reason: str | None, key: str | None, now: dt.datetime
) -> dict[str, Any]:
    """A flatten plan without placing anything (the seed's ``exit_run(dry_run=True)``)."""
    pnl = (
        run_pnl(engine, run, now)
        if run.execution_mode == "paper"
        else empty_pnl(run, realtime=False, updated_at=None)
    )
    orders = []
    for leg in pnl["legs"]:
        qty = int(leg["net_quantity"])
        orders.append(
            {
                "exchange": leg["exchange"],
                "tradingsymbol": leg["tradingsymbol"],
                "transaction_type": "SELL" if qty > 0 else "BUY",
                "variety": "regular",
                "product": leg["product"],
                "order_type": "MARKET",
                "quantity": abs(qty),
                "validity": "DAY",
            }
        )
    return {
        "idempotency_key": key,
        "reason": reason,
        "dry_run": True,
        "planned_at": iso(now),
        "legs": pnl["legs"],
        "orders": orders,
        "refresh": False,
    }


def account_portfolio(engine: PaperEngine, scope: str, now: dt.datetime) -> dict[str, Any]:
    """``GET /worker/account/portfolio`` (SDK 0.13) for a paper account, read at one instant.

    The paper book has no settlement: net positions are every run's non-zero positions on the
    account, summed per instrument and product; day positions are the same (nothing is carried
    overnight separately); holdings are the long CNC ones. ``coherent`` is always true (one
    read, no skew).
    """
    summed: dict[tuple[int, str], dict[str, Any]] = {}
    for pos in engine.book.positions.values():
        net = int(pos["net_quantity"])
        if pos["account_scope"] != scope or net == 0:
            continue
        key = (int(pos["instrument_token"]), str(pos["product"]))
        item = summed.setdefault(
            key,
            {
                "exchange": pos["exchange"],
                "tradingsymbol": pos["tradingsymbol"],
                "instrument_token": key[0],
                "product": key[1],
                "quantity": 0,
                "value": 0.0,
            },
        )
        item["quantity"] += net
        item["value"] += net * _num(pos["average_price"])
    positions = []
    for item in summed.values():
        qty = item.pop("quantity")
        value = item.pop("value")
        if qty == 0:
            continue
        last = engine.market.ltp(item["tradingsymbol"])
        positions.append(
            {**item, "quantity": qty, "average_price": round(value / qty, 4), "last_price": last}
        )
    at = iso(now)
    return {
        "schema_version": 1,
        "source": "paper_runtime",
        "retrieved_at": at,
        "source_as_of": at,
        "account_scope": scope,
        "coherent": True,
        "coherence_skew_ms": 0,
        "component_times": {"funds": at, "holdings": at, "positions": at},
        "funds": account_funds(engine, scope, "paper", now),
        "holdings": [p for p in positions if p["product"] == "CNC" and p["quantity"] > 0],
        "net_positions": positions,
        "day_positions": list(positions),
        "profile_capabilities": {"paper": True, "live": False, "products": ["CNC", "MIS", "NRML"]},
    }
