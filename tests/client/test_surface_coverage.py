"""Every public call of the async client, its options namespace and its managed run, on the sandbox.

One scenario drives the whole surface through a pass-through recorder (it forwards each
attribute of the real client and notes its name). The test then proves two things: every public
call was made, and every endpoint definition reached the wire. Calls the sandbox answers with an
error are named where they are made. The 0.13 read surfaces (portfolio, calendar, indices,
fundamentals, indicators) are driven one route each in ``test_sdk013_reads``, which this test
checks covers exactly them.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
import trio
import trio.testing

from supervisor.client import (
    AsyncKiteAlgoWorkerClient,
    BackendProtection,
    BasketExecutionList,
    ConflictError,
    ExecutionEventsSnapshot,
    GttPlaced,
    GttSnapshot,
    NotFoundError,
    OperationalProtection,
    OrderHistory,
    OrderPreview,
    PermissionDeniedError,
    RunConfig,
    RunHealthSnapshot,
    RunList,
    SafetyCheckResult,
    TimelineSnapshot,
    equity_market_order,
    limit_order,
)
from supervisor.client._endpoints import ENDPOINTS
from supervisor.client._endpoints_reads import ReadSurfaceEndpoints
from supervisor.client._managed import AsyncManagedRun
from supervisor.client._options import AsyncOptionsNamespace

from .conftest import RecordingTransport
from .test_sdk013_reads import READ_CASES

_NOT_CALLS = {"aclose", "options"}


def _public(cls: type) -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member) and name not in _NOT_CALLS
    }


class _Noting:
    """Forwards every attribute of ``target`` unchanged and notes the public names used."""

    def __init__(self, target: Any, used: set[str], prefix: str = "") -> None:
        self._target, self._used, self._prefix = target, used, prefix

    def __getattr__(self, name: str) -> Any:
        self._used.add(self._prefix + name)
        value = getattr(self._target, name)
        if name == "options":
            return _Noting(value, self._used, "options.")
        return value


async def _first(stream: Any) -> Any:
    async with stream as events:
        return await events.__anext__()


async def _drive(c: Any, used: set[str]) -> None:
    run = "run_surface_001"
    assert (await c.health())["status"] == "healthy"
    assert (await c.heartbeat(metrics={"loop": 1}))["status"] == "ok"
    created = await c.create_run(
        strategy_run_id=run, template_id="t", account_scope="kite:paper-a", execution_mode="paper"
    )
    assert created["status"] == "open"
    assert (await c.get_run(run))["strategy_run_id"] == run
    health = await c.get_run_health_snapshot(run)
    assert isinstance(health, RunHealthSnapshot) and health.health_status == "unknown"
    assert await c.get_run_protection_state(run) is not None

    protection = BackendProtection(
        operations=OperationalProtection(exit_on_worker_stale=True, worker_stale_sec=300)
    )
    config = RunConfig(
        strategy_run_id="run_surface_man",
        template_id="t",
        execution_mode="paper",
        backend_protection=protection,
    )
    doc, was_created = await c.ensure_run(config)
    assert was_created and doc["strategy_run_id"] == "run_surface_man"
    assert (await c.get_run_protection_state("run_surface_man"))["status"] == "active"
    async with c.run(config) as opened:
        m = _Noting(opened, used, "run.")
        assert m.session_nonce and m.run_id == "run_surface_man"
        safety = await m.safety_check()
        order = equity_market_order("INFY", "BUY", 1)
        key = "run_surface_man:e:1"
        assert (await m.place_order(order, idempotency_key=key, safety_token=safety.safety_token))["status"]
        assert (await m.place_basket([order], idempotency_key="run_surface_man:b:1"))["status"] == "accepted"
        assert (await m.heartbeat(metrics={"n": 1}))["status"] == "ok"
        assert (await m.log_decision_event(event_type="signal.x", summary="managed"))["cursor"] > 0
        assert (await m.patch_risk({"max_loss": 2.0}))["runtime_state"]["risk"] == {"max_loss": 2.0}
        await m.update_backend_protection(protection, reason="again")
        assert (await m.get_run_pnl())["legs"]
        assert (await m.refresh())["status"] == "open"
        resting = limit_order("NSE", "INFY", "BUY", "CNC", 1, price=1.0)
        rest = await m.place_order(resting, idempotency_key="run_surface_man:rest:1")
        rest_id = rest["result"]["order"]["order_id"]
        assert (await m.modify_order(rest_id, {"price": 2.0}))["order_id"] == rest_id
        assert (await m.cancel_order(rest_id))["order_id"] == rest_id
        with pytest.raises(PermissionDeniedError):  # runs:progress: hosted children's tokens only
            await m.progress("warming up")
        with pytest.raises(PermissionDeniedError):  # 403 HOSTED_NOTIFY_UNSUPPORTED or the action
            await m.notify(channels=["ops"], text="hello", idempotency_key="run_surface_man:n:1")
        with pytest.raises(ConflictError, match="only supported for live runs"):
            await m.create_bracket(entry_order=order, stoploss={"trigger_price": 1.0})
        with pytest.raises(ConflictError, match="only supported for live runs"):
            await m.cancel_bracket("brk_" + "0" * 32)
        assert (await m.exit_run(reason="managed done"))["run"]["status"] == "closed"

    claim = await c.claim_session(run)
    nonce = claim["worker_session_nonce"]
    assert (await c.run_heartbeat(run, session_nonce=nonce))["status"] == "ok"
    safety = await c.safety_check(run)
    assert isinstance(safety, SafetyCheckResult) and safety.can_trade
    market = equity_market_order("INFY", "BUY", 1)
    placed = await c.place_order(
        run, market, idempotency_key=f"{run}:e:1", session_nonce=nonce, safety_token=safety.safety_token
    )
    assert placed["result"]["status"] == "filled"
    basket = await c.place_basket(
        run, [market, equity_market_order("TCS", "BUY", 1)], idempotency_key=f"{run}:b:1", session_nonce=nonce
    )
    assert basket["result"]["status"] == "success"
    assert "cost_contract" in (await c.preview_order(run, market))["preview"]
    assert (await c.preview_basket(run, [market]))["preview"] is not None
    resting = limit_order("NSE", "INFY", "BUY", "CNC", 1, price=1.0)  # far below the market: rests
    rest = await c.place_order(run, resting, idempotency_key=f"{run}:rest:1", session_nonce=nonce)
    order_id = rest["result"]["order"]["order_id"]
    assert (await c.get_order(run, order_id))["order"]["status"] == "OPEN"
    await c.modify_order(run, order_id, {"price": 2.0}, session_nonce=nonce)
    await c.cancel_order(run, order_id, session_nonce=nonce)
    orders = (await c.list_orders(run))["orders"]
    assert {o["order_id"]: o["status"] for o in orders}[order_id] == "CANCELLED"
    assert (await c.list_trades(run))["trades"]
    history = await c.get_order_history(run, order_id)
    assert history["order_id"] == order_id and history["history"][-1]["status"] == "CANCELLED"
    typed_history = await c.get_order_history_snapshot(run, order_id)
    assert isinstance(typed_history, OrderHistory) and typed_history.history[-1].price == 2.0

    # SDK 0.13 execution recovery: paper baskets are not basket executions; brackets are live-only
    assert (await c.list_baskets(run))["baskets"] == []
    assert isinstance(await c.list_baskets_snapshot(run, limit=5), BasketExecutionList)
    for missing_basket in (c.get_basket, c.get_basket_snapshot):
        with pytest.raises(NotFoundError):
            await missing_basket(run, "bex_absent_0001")
    bracket = {"entry_order": market, "stoploss": {"trigger_price": 1.0}, "session_nonce": nonce}
    for live_only in (
        c.create_bracket(run, **bracket),
        c.create_bracket_snapshot(run, **bracket, target={"price": 9999.0}),
        c.list_brackets(run),
        c.list_brackets_snapshot(run),
        c.get_bracket(run, "brk_absent"),
        c.get_bracket_snapshot(run, "brk_absent"),
        c.cancel_bracket(run, "brk_absent", session_nonce=nonce),
        c.cancel_bracket_snapshot(run, "brk_absent", session_nonce=nonce),
    ):
        with pytest.raises(ConflictError, match="only supported for live runs"):
            await live_only
    executions = await c.list_execution_events(run, limit=500)
    assert {e["event_type"] for e in executions["events"]} == {"order.updated"}
    typed_events = await c.list_execution_events_snapshot(run, event_type="order.updated")
    assert isinstance(typed_events, ExecutionEventsSnapshot) and typed_events.events
    assert typed_events.last_cursor == typed_events.events[-1].cursor
    first_execution = await _first(c.stream_execution_events(run, after_cursor=0, limit=1))
    assert first_execution["cursor"] == executions["events"][0]["cursor"]
    async for followed_execution in c.follow_execution_events(run, after_cursor=first_execution["cursor"]):
        assert followed_execution["cursor"] == executions["events"][1]["cursor"]
        break
    typed_preview = await c.preview_order_snapshot(run, market)
    assert isinstance(typed_preview, OrderPreview) and typed_preview.preview.cost_contract is not None
    assert isinstance(await c.preview_basket_snapshot(run, [market]), OrderPreview)

    # SDK 0.13 runs: listing, and hosted-child calls (the sandbox hosts no child: 403)
    page = await c.list_runs(limit=1)
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest_of_runs = await c.list_runs_snapshot(limit=100, cursor=page["next_cursor"])
    assert isinstance(rest_of_runs, RunList) and rest_of_runs.next_cursor is None
    listed_ids = {page["items"][0]["strategy_run_id"], *(i.strategy_run_id for i in rest_of_runs.items)}
    assert {run, "run_surface_man"} <= listed_ids
    attached = await c.attach_run(
        run, session_nonce=nonce, config=RunConfig(template_id="t", execution_mode="paper")
    )
    assert attached.session_nonce == nonce and (await attached.heartbeat())["status"] == "ok"
    with pytest.raises(PermissionDeniedError):
        await c.run_progress(run, session_nonce=nonce, note="n")
    with pytest.raises(PermissionDeniedError):
        await c.run_progress_snapshot(run, session_nonce=nonce)
    with pytest.raises(PermissionDeniedError):
        await c.notify_run(run, channels=["ops"], text="t", idempotency_key=f"{run}:n:1", session_nonce=nonce)

    assert "totals" in await c.get_run_pnl(run)
    assert "totals" in await _first(c.stream_run_pnl(run))
    assert "strategy" in await c.get_run_funds(run)
    assert "net" in await c.get_funds()
    await c.patch_risk(run, {"max_loss": 1.0}, session_nonce=nonce)
    await c.update_backend_protection(
        run, {"operations": {"exit_on_worker_stale": True, "worker_stale_sec": 300}}, session_nonce=nonce
    )
    event = await c.log_decision_event(run, event_type="note", summary="surface", session_nonce=nonce)
    assert (await c.list_timeline(run))["last_cursor"] >= event["cursor"]
    timeline = await c.list_timeline_snapshot(run)
    assert isinstance(timeline, TimelineSnapshot) and timeline.events
    assert "cursor" in await _first(c.stream_timeline(run))
    async for followed in c.follow_timeline(run):
        assert followed["cursor"] > 0
        break

    assert (await c.resolve_ticker("NSE:INFY"))["tradingsymbol"] == "INFY"
    resolved = await c.resolve_tickers(["NSE:INFY", "NSE:NOPE"])
    assert resolved["missing"] == ["NSE:NOPE"] and len(resolved["instruments"]) == 1
    assert (await c.search_tickers("INF"))["results"]
    assert (await c.get_quotes(["NSE:INFY"]))["quotes"]["NSE:INFY"]["last_price"] > 0
    assert (await c.get_candles("NSE:INFY"))["candles"]
    assert (await c.get_historical_candles("NSE:INFY", lookback_days=10))["candles"]
    snapshot = await c.get_market_snapshot(
        ["NSE:INFY"], candles=[{"symbol": "NSE:INFY", "interval": "5minute"}]
    )
    assert snapshot["quotes"]["NSE:INFY"]["last_price"] > 0
    assert len(snapshot["candles"][0]["candles"]) == 50  # the default lookback
    assert "quotes" in await _first(c.stream_ticks(["NSE:INFY"]))
    assert await _first(c.stream_candles("NSE:INFY"))

    inst = {"exchange": "NSE", "tradingsymbol": "INFY"}
    leg = {
        **inst,
        "transaction_type": "BUY",
        "quantity": 1,
        "order_type": "LIMIT",
        "product": "CNC",
        "price": 1.0,
    }
    gtt = {
        "type": "single",
        "condition": {**inst, "trigger_values": [1.0], "last_price": 2.0},
        "orders": [leg],
    }
    first = (await c.place_gtt(gtt))["trigger_id"]
    second = await c.place_gtt_snapshot(gtt)
    assert isinstance(second, GttPlaced) and second.trigger_id != first
    assert len(await c.list_gtts()) >= 2
    listed = await c.list_gtts_snapshot()
    assert all(isinstance(t, GttSnapshot) for t in listed) and {first, second.trigger_id} <= {
        t.id for t in listed
    }
    assert (await c.get_gtt(first))["id"] == first
    assert (await c.get_gtt_snapshot(second.trigger_id)).status
    assert (await c.modify_gtt(first, gtt))["trigger_id"] == first
    assert (await c.modify_gtt_snapshot(second.trigger_id, gtt)).trigger_id == second.trigger_id
    assert (await c.delete_gtt(first))["trigger_id"] == first
    assert (await c.delete_gtt_snapshot(second.trigger_id)).trigger_id == second.trigger_id

    o = c.options
    assert (await o.ensure_session("nifty"))["underlying"] == "NIFTY"
    assert (await o.list_expiries("NIFTY"))["expiries"]
    chain = await o.get_chain("NIFTY", expiry="current_week")
    assert chain["chain"]
    assert (await o.get_mini_chain("NIFTY", window=2))["contracts"]
    assert (await o.get_greeks("NIFTY"))["contracts"]
    assert (await o.get_pcr("NIFTY"))["value"] is not None
    assert (await o.get_max_pain("NIFTY"))["value"] is not None
    contracts = await o.resolve_contracts(
        "NIFTY", expiry="current_week", legs=[{"option_type": "CE", "offset": "ATM"}]
    )
    symbol = contracts["resolved"][0]["tradingsymbol"]
    option_leg = {
        "tradingsymbol": symbol,
        "transaction_type": "BUY",
        "quantity": contracts["resolved"][0]["lot_size"],
    }
    assert (await o.preview_strategy({"strategy_name": "s", "legs": [option_leg]}))["legs"]
    orun = (await o.create_run(strategy_name="s", product="MIS", legs=[option_leg]))["strategy_run_id"]
    assert await o.preview_entry(orun) is not None
    assert await o.preview_run_entry(orun) == await o.preview_entry(orun)
    named = await o.create_run(
        strategy_name="s",
        product="MIS",
        legs=[option_leg],
        strategy_run_id="run_surface_opt",
        session_nonce=None,
    )
    assert named["strategy_run_id"] == "run_surface_opt"
    assert await o.enter(orun) is not None
    assert await o.get_run_state(orun) is not None
    assert await o.update_protection(orun, {"stoploss_pct": 2.0}) is not None
    assert await o.get_protection_state(orun) is not None
    assert "evaluations" in await o.replay_protection(orun, [{"gross_pnl": -10.0, "premium": 100.0}])
    assert await o.preview_exit(orun) is not None
    assert await o.exit(orun) is not None

    assert (await c.exit_run(run, reason="done", session_nonce=nonce))["run"]["status"] == "closed"
    assert (await c.release_session(run, session_nonce=nonce))["status"] == "released"


async def test_every_public_call_runs_against_the_sandbox(
    client: AsyncKiteAlgoWorkerClient, recorder: RecordingTransport, autojump_clock: trio.testing.MockClock
) -> None:
    used: set[str] = set()
    with trio.fail_after(300):
        await _drive(_Noting(client, used), used)
    reads = _public(ReadSurfaceEndpoints)
    assert reads == {case.values[0] for case in READ_CASES}  # driven there, one route each
    expected = _public(AsyncKiteAlgoWorkerClient) | {f"options.{n}" for n in _public(AsyncOptionsNamespace)}
    expected |= {f"run.{n}" for n in _public(AsyncManagedRun)}
    assert expected - reads - used == set()
    assert len(expected) >= 125

    prefix = "/api/algo-workers"
    hit = {(method, path.removeprefix(prefix)) for method, path in recorder.seen}
    unhit = []
    read_routes = {case.values[1] for case in READ_CASES}
    for endpoint in ENDPOINTS.values():
        if endpoint.name in read_routes:
            continue
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(endpoint.path)) + "$")
        if not any(m == endpoint.method and pattern.match(p) for m, p in hit):
            unhit.append(endpoint.name)
    assert unhit == []


def test_sync_client_offers_the_same_calls() -> None:
    """The blocking client derives its surface: a new async call needs no sync code."""
    from supervisor.client import KiteAlgoWorkerClient
    from supervisor.client._sync import _BlockingProxy

    own = {n for n in vars(KiteAlgoWorkerClient) if not n.startswith("_")}
    assert own <= {"close", "options", "run"}  # nothing else is written twice
    assert issubclass(KiteAlgoWorkerClient, _BlockingProxy)
    with pytest.raises(AttributeError):
        _BlockingProxy.__getattr__(_BlockingProxy(None, object()), "_private")  # type: ignore[arg-type]
