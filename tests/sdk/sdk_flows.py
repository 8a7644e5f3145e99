"""The official SDK's documented calls, run as a script against a sandbox (the outside judge).

    PYTHONPATH=<sdk dir> python tests/sdk/sdk_flows.py {sync,async,reads,reads-async}

reads ``KITE_ALGO_API_BASE`` and ``KITE_ALGO_WORKER_TOKEN``, runs one flow with whatever
``kite_algo_worker`` is importable (0.7.4 from the project's environment, 0.13.0 from
``.venv/sdk-0.13``) and prints one JSON line: what the calls returned, read through the SDK's
typed models where the SDK has them. A model that rejects a response raises here, and the
script exits non-zero: the test then shows the traceback. Known divergences of the reference
server (contract §11) are recorded as ``<name>_error`` entries instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import kite_algo_worker as kaw
from kite_algo_worker import AlgoWorkerConfig, KiteAlgoWorkerClient, equity_market_order
from kite_algo_worker.async_client import AsyncKiteAlgoWorkerClient

NEW = hasattr(KiteAlgoWorkerClient, "preview_order_snapshot")  # SDK 0.13's surface
ORDER = equity_market_order("INFY", "BUY", 1)
DECISION = {"decision_type": "signal", "action": "observe", "summary": "EMA crossover on INFY 5m"}


def _config() -> Any:
    return AlgoWorkerConfig(
        base_url=os.environ["KITE_ALGO_API_BASE"], token=os.environ["KITE_ALGO_WORKER_TOKEN"]
    )


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {getattr(exc, 'status_code', '')}".rstrip(": ")


def sync_flow() -> dict[str, Any]:
    out: dict[str, Any] = {"version": kaw.__version__, "new": NEW}
    client = KiteAlgoWorkerClient(_config())
    out["health"] = client.health()
    funds = client.get_funds(mode="paper")  # the seed's call: no scope, the token's account
    out["funds_scope"] = funds["account_scope"]
    snapshot = client.get_funds_snapshot(mode="paper")  # strict in both versions
    out["funds_equity_net"] = snapshot.segments["equity"].net
    run_id = f"run_sdk_sync_{'013' if NEW else '074'}"
    client.create_run(
        strategy_run_id=run_id,
        template_id="sdk-judge",
        account_scope="kite:paper-a",
        execution_mode="paper",
        metadata={"strategy_family": "indicator_strategy", "strategy_name": "SDK judge"},
    )
    nonce = client.claim_session(run_id)["worker_session_nonce"]
    client.run_heartbeat(run_id, session_nonce=nonce)
    safety_token = None
    try:
        safety = client.safety_check(run_id)  # 0.7.4: strict, and the server sends execution_mode
        out["safety_can_trade"] = safety.can_trade
        safety_token = safety.safety_token
    except TypeError as exc:
        out["safety_check_error"] = str(exc)
    placed = client.place_order(
        run_id, ORDER, idempotency_key=f"{run_id}:entry:001", safety_token=safety_token, session_nonce=nonce
    )
    out["order_status"] = placed["result"]["status"]
    out["position_keys"] = sorted(placed["result"]["position"])
    if NEW:
        preview = client.preview_order_snapshot(run_id, ORDER)  # strict OrderPreview
        out["preview_margin"] = preview.preview.cost_contract.margin_required
        out["decision"] = client.log_decision_event(run_id, session_nonce=nonce, **DECISION)["event_type"]
    else:
        out["preview_keys"] = sorted(client.preview_order(run_id, ORDER))
        try:  # 0.7.4 cannot send the nonce on this call (§11 #4)
            client.log_decision_event(run_id, **DECISION)
        except kaw.KiteAlgoWorkerError as exc:
            out["decision_error"] = _error(exc)
            out["decision_reason"] = exc.response_body["detail"]["rejection_reason"]
    timeline = client.list_timeline_snapshot(run_id, limit=20)  # strict
    out["timeline"] = [e.event_type for e in timeline.events]
    pnl = client.get_run_pnl_snapshot(run_id)  # strict
    out["pnl_positions"] = pnl.position_count
    out["orders"] = len(client.get_orders_snapshot(run_id).orders)  # strict envelope
    out["trades"] = len(client.get_trades_snapshot(run_id).trades)
    out["expiries"] = len(client.options.list_expiries("NIFTY")["expiries"])  # strict model
    try:
        out["run_health"] = client.get_run_health_snapshot(run_id).session_status
    except TypeError as exc:  # 0.7.4: strict, and get_run has more keys (§11 #2)
        out["run_health_error"] = str(exc)
    try:
        client.log_decision_event(run_id, event_type="signal.generated", summary="README body")
    except kaw.KiteAlgoWorkerError as exc:
        out["readme_decision_error"] = _error(exc)
    client.release_session(run_id, session_nonce=nonce)
    out["exit"] = client.exit_run(run_id, reason="done", idempotency_key=f"{run_id}:exit:001")["status"]
    return out


async def async_flow() -> dict[str, Any]:
    out: dict[str, Any] = {"version": kaw.__version__, "new": NEW}
    run_id = f"run_sdk_async_{'013' if NEW else '074'}"
    sync = KiteAlgoWorkerClient(_config())  # 0.7.4's async client cannot create runs
    sync.create_run(strategy_run_id=run_id, template_id="sdk-judge", account_scope="kite:paper-a",
                    execution_mode="paper")  # fmt: skip
    async with AsyncKiteAlgoWorkerClient(_config()) as client:
        out["health"] = await client.health()
        out["funds_scope"] = (await client.get_funds(mode="paper"))["account_scope"]
        out["pnl_positions"] = (await client.get_run_pnl_snapshot(run_id)).position_count
        out["timeline"] = [e.event_type for e in (await client.list_timeline_snapshot(run_id)).events]
        out["gtts"] = await client.list_gtts()
        if NEW:
            preview = await client.preview_order_snapshot(run_id, ORDER)
            out["preview_margin"] = preview.preview.cost_contract.margin_required
            safety = await client.safety_check(run_id)
            out["safety_can_trade"] = safety.can_trade
        else:
            out["preview_keys"] = sorted(await client.preview_order(run_id, ORDER))
    return out


def reads_flow() -> dict[str, Any]:
    """SDK 0.13's read surfaces, through their typed snapshots (the sandbox's day is pinned)."""
    client = KiteAlgoWorkerClient(_config())
    out: dict[str, Any] = {"version": kaw.__version__}
    calendar = client.get_market_calendar_snapshot("2026-05-08", "2026-05-11", exchange="NSE", segment="CM")
    out["sessions"] = [(s.session_date, s.session_type, s.opens_at) for s in calendar.sessions]
    status = client.get_market_calendar_status_snapshot(exchange="NSE", segment="CM")
    out["coverage"] = [status.coverage_start, status.coverage_end, status.complete]
    try:
        client.get_market_calendar_snapshot("2001-01-01", "2001-01-05")
    except kaw.CalendarRangeUncoveredError as exc:
        out["uncovered"] = [exc.status_code, exc.rejection_reason]
    members = client.get_index_constituents_snapshot("Nifty50")
    out["members"] = [members.member_count, sorted(m.tradingsymbol for m in members.members)[:3]]
    index_status = client.get_index_constituent_status_snapshot("Nifty50")
    out["index_status"] = [index_status.complete, index_status.actual_member_count]
    portfolio = client.get_account_portfolio_snapshot()
    out["portfolio"] = [portfolio.account_scope, portfolio.coherent, len(portfolio.net_positions)]
    features = client.get_fundamentals_features(symbols=["RELIANCE", "TCS"])
    row = features.for_symbol("reliance")
    out["features"] = [len(features.features), row.stock_pe is not None if row else None]
    out["fundamentals_status"] = [s.status for s in client.get_fundamentals_status(index="Nifty50").symbols][
        :2
    ]
    statements = client.get_fundamentals_statements("TCS", dataset="quarterly")
    out["statement_rows"] = len(statements.rows)
    out["csv_header"] = client.export_fundamentals_csv(symbols=["TCS"]).splitlines()[0].split(",")[:2]
    run = client.refresh_fundamentals(symbols=["TCS"])
    out["sync"] = [run.symbols_requested, run.symbols_unchanged]
    bars = [{"ts": f"2026-05-08T09:{15 + i:02d}:00+05:30", "open": 100.0 + i, "high": 101.0 + i,
             "low": 99.0 + i, "close": 100.0 + i, "volume": 1} for i in range(30)]  # fmt: skip
    out["sma"] = client.calculate_indicator({"name": "sma", "bars": bars, "period": 5})["latest"]["value"]
    try:
        client.get_market_calendar_status(schema_version=9)
    except kaw.UnsupportedSchemaVersionError as exc:
        out["schema_error"] = [exc.status_code, exc.rejection_reason]
    return out


async def reads_async_flow() -> dict[str, Any]:
    out: dict[str, Any] = {"version": kaw.__version__}
    async with AsyncKiteAlgoWorkerClient(_config()) as client:
        calendar = await client.get_market_calendar_snapshot("2026-05-08", "2026-05-11")
        out["sessions"] = [(s.session_date, s.session_type, s.opens_at) for s in calendar.sessions]
        out["members"] = (await client.get_index_constituents_snapshot("Nifty50")).member_count
        out["portfolio_scope"] = (await client.get_account_portfolio_snapshot()).account_scope
        features = await client.get_fundamentals_features(index="Nifty50")
        out["features"] = len(features.features)
        indicator = await client.calculate_indicator(
            {"name": "rsi", "bars": [{"close": 100.0 + i % 3} for i in range(20)]}
        )
        out["rsi_count"] = indicator["count"]
    return out


def _run_async_flow() -> dict[str, Any]:
    return asyncio.run(async_flow())


def _run_reads_async_flow() -> dict[str, Any]:
    return asyncio.run(reads_async_flow())


FLOWS: dict[str, Callable[[], dict[str, Any]]] = {
    "sync": sync_flow,
    "async": _run_async_flow,
    "reads": reads_flow,
    "reads-async": _run_reads_async_flow,
}

if __name__ == "__main__":
    print(json.dumps(FLOWS[sys.argv[1]](), default=str))
