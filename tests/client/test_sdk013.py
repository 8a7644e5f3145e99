"""SDK 0.13 calls beyond the surface walk: a hosted child attaching to its parent's session,
the session nonce on the calls that gained it, run-list arguments, the execution-event follower
across a dropped stream, and, on httpx's mock transport standing in for what the sandbox cannot
be (a live broker, the read surfaces it does not serve yet), the wire form and typed answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from supervisor.client import (
    AlgoWorkerConfig,
    AsyncKiteAlgoWorkerClient,
    ClientValidationError,
    FundamentalFeatures,
    HostedChild,
    HostedChildEnv,
    LiveTradingRefusedError,
    MarketCalendar,
    OrderRuleError,
    RunConfigMismatchError,
    equity_market_order,
    limit_order,
    open_hosted_child,
)
from supervisor.client._backoff import Backoff
from supervisor.sandbox import SandboxHandle

from .conftest import RecordingTransport

PREFIX = "/api/algo-workers"


class HeaderRecorder(RecordingTransport):
    """The loopback recorder, also noting each request's session nonce header."""

    def __init__(self) -> None:
        super().__init__()
        self.nonces: dict[tuple[str, str], str | None] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.nonces[(request.method, request.url.path)] = request.headers.get("x-worker-session-nonce")
        return await super().handle_async_request(request)


def _hosted_env(
    sandbox: SandboxHandle, run_id: str, nonce: str, scratch: Path, **over: str
) -> dict[str, str]:
    env = {
        "KITE_ALGO_BASE_URL": sandbox.base_url,
        "KITE_ALGO_WORKER_TOKEN": sandbox.token,
        "KITE_ALGO_RUN_ID": run_id,
        "KITE_ALGO_SESSION_NONCE": nonce,
        "KITE_ALGO_TEMPLATE_ID": "hosted-demo",
        "KITE_ALGO_ACCOUNT_SCOPE": "kite:paper-a",
        "KITE_ALGO_MODE": "paper",
        "KITE_ALGO_PARAMS": json.dumps({"symbol": "INFY", "quantity": 2}),
        "KITE_ALGO_SCRATCH": str(scratch),
    }
    return {**env, **over}


async def hosted_main(ctx: HostedChild) -> Any:
    """A strategy written for the upstream hosted child: everything comes from ``ctx``."""
    await ctx.run.heartbeat(metrics={"phase": "start"})
    order = equity_market_order(ctx.params["symbol"], "BUY", ctx.params["quantity"])
    return await ctx.run.place_order(order, idempotency_key=f"{ctx.run_id}:entry:1")


async def test_hosted_child_attaches_with_the_parents_nonce(
    client: AsyncKiteAlgoWorkerClient,
    sandbox: SandboxHandle,
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
) -> None:
    run_id = "run_hosted_0001"
    with trio.fail_after(60):
        # the parent: creates the run, claims its session and hands the nonce to the child
        await client.create_run(
            strategy_run_id=run_id,
            template_id="hosted-demo",
            account_scope="kite:paper-a",
            execution_mode="paper",
        )
        nonce = (await client.claim_session(run_id))["worker_session_nonce"]
        await client.run_heartbeat(run_id, session_nonce=nonce)

        child_wire = HeaderRecorder()
        environ = _hosted_env(sandbox, run_id, nonce, tmp_path)
        async with open_hosted_child(environ, transport=child_wire) as ctx:
            assert ctx.run_id == run_id and ctx.execution_mode == "paper" and ctx.scratch == tmp_path
            assert ctx.params == {"symbol": "INFY", "quantity": 2}
            placed = await hosted_main(ctx)
            for shown in (repr(ctx.env), repr(ctx.run), repr(ctx.client), str(ctx.env)):
                assert sandbox.token not in shown and nonce not in shown

    assert placed["result"]["status"] == "filled" and placed["result"]["order"]["quantity"] == 2
    # no second claim, no release: one read, then the heartbeat and the order with the parent's nonce
    run_path = f"{PREFIX}/worker/runs/{run_id}"
    assert child_wire.seen == [
        ("GET", run_path),
        ("POST", f"{run_path}/heartbeat"),
        ("POST", f"{run_path}/intents"),
    ]
    assert child_wire.nonces[("POST", f"{run_path}/heartbeat")] == nonce
    assert child_wire.nonces[("POST", f"{run_path}/intents")] == nonce
    with trio.fail_after(30):
        run = await client.get_run(run_id)
        assert run["worker_session_nonce"] == nonce and run["health_status"] == "healthy"
        assert (await client.get_run_pnl(run_id))["legs"][0]["net_quantity"] == 2
        assert (await client.release_session(run_id, session_nonce=nonce))["status"] == "released"


async def test_hosted_child_refuses_a_foreign_run_and_a_bad_environment(
    client: AsyncKiteAlgoWorkerClient,
    sandbox: SandboxHandle,
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
) -> None:
    run_id = "run_hosted_0002"
    with trio.fail_after(60):
        await client.create_run(
            strategy_run_id=run_id, template_id="other", account_scope="kite:paper-a", execution_mode="paper"
        )
        nonce = (await client.claim_session(run_id))["worker_session_nonce"]
        child_wire = RecordingTransport()
        with pytest.raises(RunConfigMismatchError, match="template_id"):
            async with open_hosted_child(_hosted_env(sandbox, run_id, nonce, tmp_path), transport=child_wire):
                pytest.fail("attached to a run of another template")
        assert child_wire.seen == [("GET", f"{PREFIX}/worker/runs/{run_id}")]
    missing = _hosted_env(sandbox, run_id, nonce, tmp_path)
    del missing["KITE_ALGO_SESSION_NONCE"]
    with pytest.raises(ClientValidationError, match="KITE_ALGO_SESSION_NONCE"):
        HostedChildEnv.from_env(missing)
    with pytest.raises(ClientValidationError, match="KITE_ALGO_PARAMS"):
        HostedChildEnv.from_env(_hosted_env(sandbox, run_id, nonce, tmp_path, KITE_ALGO_PARAMS="[1]"))
    env = HostedChildEnv.from_env(_hosted_env(sandbox, run_id, nonce, tmp_path, KITE_ALGO_MODE=""))
    assert env.execution_mode == "paper" and env.run_config().template_id == "hosted-demo"


async def test_session_nonce_reaches_the_wire_on_the_calls_that_gained_it(
    sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    wire = HeaderRecorder()
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
    run_id = "run_nonce_0001"
    async with AsyncKiteAlgoWorkerClient(config, transport=wire, environ={}) as c:
        with trio.fail_after(60):
            await c.create_run(
                strategy_run_id=run_id, template_id="t", account_scope="kite:paper-a", execution_mode="paper"
            )
            nonce = (await c.claim_session(run_id))["worker_session_nonce"]
            resting = limit_order("NSE", "INFY", "BUY", "CNC", 1, price=1.0)
            placed = await c.place_order(
                run_id, resting, idempotency_key=f"{run_id}:r:1", session_nonce=nonce
            )
            order_id = placed["result"]["order"]["order_id"]
            await c.modify_order(run_id, order_id, {"price": 2.0}, session_nonce=nonce)
            await c.cancel_order(run_id, order_id, session_nonce=nonce)
            contracts = await c.options.resolve_contracts(
                "NIFTY", expiry="current_week", legs=[{"option_type": "CE", "offset": "ATM"}]
            )
            leg = {
                "tradingsymbol": contracts["resolved"][0]["tradingsymbol"],
                "transaction_type": "BUY",
                "quantity": contracts["resolved"][0]["lot_size"],
            }
            created = await c.options.create_run(
                strategy_name="s",
                product="MIS",
                legs=[leg],
                strategy_run_id="run_nonce_opt1",
                session_nonce=nonce,
            )
            assert created["strategy_run_id"] == "run_nonce_opt1"
            with pytest.raises(ClientValidationError):
                await c.list_runs(limit=0)
            with pytest.raises(ClientValidationError):
                await c.list_runs(limit=True)
            with pytest.raises(ClientValidationError):
                await c.list_runs(cursor=" ")
    assert wire.nonces[("POST", f"{PREFIX}/worker/orders/{order_id}/modify")] == nonce
    assert wire.nonces[("POST", f"{PREFIX}/worker/orders/{order_id}/cancel")] == nonce
    assert wire.nonces[("POST", f"{PREFIX}/worker/options/runs")] == nonce
    assert not any(path == f"{PREFIX}/worker/runs" and m == "GET" for m, path in wire.seen)  # refused locally


async def test_read_surface_requests_and_typed_answers() -> None:
    """The request each read call sends (query, path, body) and the typed decoding of answers
    carrying fields the models do not declare."""
    seen: list[httpx.Request] = []
    answers: dict[str, Any] = {
        "/worker/market/calendar": {
            "schema_version": 1,
            "source": "nse",
            "retrieved_at": "2026-06-10T05:30:00+00:00",
            "exchange": "NSE",
            "segment": "CM",
            "sessions": [{"session_date": "2026-06-10", "session_type": "trading", "new_field": 1}],
            "also_new": {"x": 1},
        },
        "/worker/fundamentals/features": {
            "schema_version": 1,
            "source": "screener",
            "features": [{"symbol": "INFY", "stock_pe": "24.5", "brand_new": True}],
            "missing_symbols": ["TCS"],
        },
        "/worker/fundamentals/export.csv": "symbol,stock_pe\nINFY,24.5\n",
        "/worker/fundamentals/sync": {
            "run_id": "fsr_1",
            "scope": {"index": "NIFTY50"},
            "symbols_requested": "50",
        },
    }

    def backend(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.get(request.url.path.removeprefix(PREFIX), {})
        if isinstance(answer, str):
            return httpx.Response(200, text=answer, headers={"content-type": "text/csv"})
        return httpx.Response(200, json=answer)

    config = AlgoWorkerConfig(base_url="http://127.0.0.1:9", token="kwa_" + "r" * 43)
    async with AsyncKiteAlgoWorkerClient(config, transport=httpx.MockTransport(backend), environ={}) as c:
        calendar = await c.get_market_calendar_snapshot("2026-06-08", "2026-06-12", exchange="nse")
        assert isinstance(calendar, MarketCalendar) and calendar.sessions[0].session_date == "2026-06-10"
        assert dict(seen[-1].url.params) == {
            "from": "2026-06-08",
            "to": "2026-06-12",
            "exchange": "NSE",
            "segment": "CM",
            "schema_version": "1",
        }
        features = await c.get_fundamentals_features(symbols=[" infy "])
        assert isinstance(features, FundamentalFeatures) and features.features[0].stock_pe == 24.5
        assert features.missing_symbols == ["TCS"] and features["source"] == "screener"
        assert dict(seen[-1].url.params) == {"symbols": "INFY", "schema_version": "1"}
        assert await c.export_fundamentals_csv(index="NIFTY50") == "symbol,stock_pe\nINFY,24.5\n"
        assert dict(seen[-1].url.params) == {
            "index": "NIFTY50",
            "dataset": "fundamentals_features",
            "schema_version": "1",
        }
        await c.get_index_constituent_status("NIFTY50", schema_version=2)
        assert seen[-1].url.path == f"{PREFIX}/worker/market/indices/NIFTY50/status"
        assert seen[-1].url.params["schema_version"] == "2"
        await c.get_market_calendar_status(exchange="bse", segment="fo")
        assert (seen[-1].url.params["exchange"], seen[-1].url.params["segment"]) == ("BSE", "FO")
        await c.get_account_portfolio(account_scope="kite:paper-a")
        assert seen[-1].url.params["account_scope"] == "kite:paper-a"
        await c.calculate_indicator({"name": "rsi", "bars": [], "period": 14})
        assert json.loads(seen[-1].content) == {"name": "rsi", "bars": [], "period": 14}
        synced = await c.refresh_fundamentals(index="NIFTY50")
        assert (
            synced.run_id == "fsr_1"
            and synced.symbols_requested == 50
            and synced.scope == {"index": "NIFTY50"}
        )
        assert json.loads(seen[-1].content) == {"mode": "incremental", "index": "NIFTY50"}
        sent = len(seen)
        for refused in (
            c.get_fundamentals_status(),  # neither scope
            c.get_fundamentals_status(symbols=["INFY"], index="NIFTY50"),  # both
            c.get_fundamentals_statements("INFY", dataset=" "),
            c.get_market_calendar("2026-06-12", "2026-06-08"),
            c.get_market_calendar("2026-06-08", "next friday"),
            c.get_index_constituents(" "),
            c.get_account_portfolio(account_scope=""),
        ):
            with pytest.raises(ClientValidationError):
                await refused
        assert len(seen) == sent  # refused before any request


async def test_follow_execution_events_resumes_after_a_drop(
    client: AsyncKiteAlgoWorkerClient, sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    run_id = "run_exec_follow1"
    with trio.fail_after(120):
        await client.create_run(
            strategy_run_id=run_id, template_id="t", account_scope="kite:paper-a", execution_mode="paper"
        )
        for i in range(2):
            await client.place_order(
                run_id, equity_market_order("INFY", "BUY", 1), idempotency_key=f"{run_id}:{i}"
            )
        await client.log_decision_event(
            run_id, decision_type="note", action="observe", summary="not execution"
        )
        rule = sandbox.faults.add(
            path=f"/worker/runs/{run_id}/execution-events/stream", stream="drop", after_chunks=2, times=1
        )
        seen: list[Any] = []
        async for event in client.follow_execution_events(
            run_id, backoff=Backoff(initial=1.0, maximum=2.0, jitter=0.0)
        ):
            seen.append(event)
            if len(seen) == 2:
                await client.place_order(
                    run_id, equity_market_order("TCS", "BUY", 1), idempotency_key=f"{run_id}:late"
                )
            if len(seen) == 3:
                break
    assert rule.fired >= 1
    cursors = [e["cursor"] for e in seen]
    assert cursors == sorted(set(cursors))  # in order, none twice across the reconnect
    assert {e["event_type"] for e in seen} == {"order.updated"} and "event_kind" not in seen[
        0
    ]  # reduced form
    assert seen[-1]["payload"]["order"]["tradingsymbol"] == "TCS"


async def test_brackets_and_recovery_reads_on_a_live_backend() -> None:
    """The transport stands in for a live backend (the sandbox has no broker session): the bracket
    body on the wire, the live gate, and the typed answers with their numeric strings."""
    seen: list[httpx.Request] = []
    run_doc = {"strategy_run_id": "run_live_brk01", "execution_mode": "live", "status": "open"}
    bracket = {
        "strategy_run_id": "run_live_brk01",
        "bracket_intent_id": "brk_" + "a" * 32,
        "status": "entry_working",
        "action_required": False,
        "action_reason": None,
        "entry_result": {"order_id": "250610000001", "idempotency_key": "bracket:brk_a:entry:1"},
        "unknown_extra": [1, 2],
    }
    basket = {
        "basket_execution_id": "bex_1",
        "strategy_run_id": "run_live_brk01",
        "status": "completed",
        "legs": [
            {"basket_execution_id": "bex_1", "leg_index": 0, "status": "filled", "average_price": "1450.5"}
        ],
    }
    answers: dict[tuple[str, str], Any] = {
        ("GET", "/worker/runs/run_live_brk01"): run_doc,
        ("POST", "/worker/runs/run_live_brk01/brackets"): bracket,
        ("GET", "/worker/runs/run_live_brk01/brackets"): {
            "strategy_run_id": "run_live_brk01",
            "brackets": [bracket],
        },
        ("POST", f"/worker/runs/run_live_brk01/brackets/{bracket['bracket_intent_id']}/cancel"): {
            **bracket,
            "status": "cancelling",
        },
        ("GET", "/worker/runs/run_live_brk01/baskets/bex_1"): basket,
        ("GET", "/worker/orders/250610000001/history"): {
            "strategy_run_id": "run_live_brk01",
            "order_id": "250610000001",
            "history": [
                {"order_id": "250610000001", "status": "OPEN", "price": "1450.5"},
                {"order_id": "250610000001", "status": "COMPLETE", "average_price": "1450.45", "new": 1},
            ],
        },
    }

    def backend(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answers[(request.method, request.url.path.removeprefix(PREFIX))])

    config = AlgoWorkerConfig(base_url="http://127.0.0.1:9", token="kwa_" + "b" * 43)
    entry = limit_order("NSE", "INFY", "BUY", "CNC", 1, price=1450.0)
    async with AsyncKiteAlgoWorkerClient(config, transport=httpx.MockTransport(backend), environ={}) as gated:
        with pytest.raises(LiveTradingRefusedError):
            await gated.create_bracket(
                "run_live_brk01", entry_order=entry, stoploss={"trigger_price": 1440.0}, session_nonce="wsn_x"
            )
        assert [r.method for r in seen] == ["GET"]  # looked the run up, placed nothing
    seen.clear()
    live = {"KITE_ALGO_ENABLE_LIVE": "1"}
    async with AsyncKiteAlgoWorkerClient(config, transport=httpx.MockTransport(backend), environ=live) as c:
        created = await c.create_bracket_snapshot(
            "run_live_brk01",
            entry_order=entry,
            stoploss={"trigger_price": 1440.0},
            idempotency_key="run_live_brk01:brk:1",
            session_nonce="wsn_live",
        )
        assert created.status == "entry_working" and created.entry_result == bracket["entry_result"]
        body = json.loads(seen[-1].content)
        assert body["target"] is None and body["idempotency_key"] == "run_live_brk01:brk:1"
        assert body["entry_order"]["tradingsymbol"] == "INFY" and body["stoploss"] == {
            "trigger_price": 1440.0
        }
        assert seen[-1].headers["x-worker-session-nonce"] == "wsn_live"
        listed = await c.list_brackets_snapshot("run_live_brk01", limit=10)
        assert [b.bracket_intent_id for b in listed.brackets] == [created.bracket_intent_id]
        assert seen[-1].url.params["limit"] == "10"
        cancelled = await c.cancel_bracket_snapshot(
            "run_live_brk01", created.bracket_intent_id, session_nonce="wsn_live"
        )
        assert cancelled.status == "cancelling" and seen[-1].headers["x-worker-session-nonce"] == "wsn_live"
        typed_basket = await c.get_basket_snapshot("run_live_brk01", "bex_1")
        assert typed_basket.legs[0].average_price == 1450.5 and typed_basket.status == "completed"
        history = await c.get_order_history_snapshot("run_live_brk01", "250610000001")
        assert [h.status for h in history.history] == ["OPEN", "COMPLETE"] and history.history[
            1
        ].average_price == 1450.45
        assert seen[-1].url.params["strategy_run_id"] == "run_live_brk01"
        with pytest.raises(OrderRuleError):  # the entry is checked like any order, before any request
            await c.create_bracket(
                "run_live_brk01", entry_order={"tradingsymbol": "INFY"}, stoploss={}, session_nonce="n"
            )
