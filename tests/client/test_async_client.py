"""The async client against the real sandbox: run lifecycle, sessions, intents, exits, errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from supervisor.client import (
    AlgoWorkerConfig,
    AsyncKiteAlgoWorkerClient,
    AuthError,
    BackendProtection,
    ClientValidationError,
    NotFoundError,
    OperationalProtection,
    OrderRuleError,
    RunConfig,
    RunConfigMismatchError,
    SessionConflictError,
    SessionRequiredError,
    equity_market_order,
)
from supervisor.sandbox import SandboxHandle

from .conftest import TOKEN, RecordingTransport

pytestmark = pytest.mark.usefixtures("autojump_clock")


async def _run(client: AsyncKiteAlgoWorkerClient, run_id: str, mode: str = "paper") -> Any:
    return await client.create_run(
        strategy_run_id=run_id,
        template_id="basic-equity",
        account_scope="kite:paper-a",
        execution_mode=mode,
        metadata={"strategy_family": "indicator_strategy", "strategy_name": "Basic Equity"},
    )


async def test_health_and_run_lifecycle(client: AsyncKiteAlgoWorkerClient, autojump_clock: object) -> None:
    with trio.fail_after(30):
        health = await client.health()
        assert health["status"] in {"healthy", "ok"}
        run = await _run(client, "run_life_001")
        assert run["strategy_run_id"] == "run_life_001"
        got = await client.get_run("run_life_001")
        assert got.execution_mode == "paper"
        snap = await client.get_run_health_snapshot("run_life_001")
        assert snap.strategy_run_id == "run_life_001" and snap.status == "open"
        with pytest.raises(NotFoundError):
            await client.get_run("run_missing_001")


async def test_sessions_guard_and_release(client: AsyncKiteAlgoWorkerClient, autojump_clock: object) -> None:
    with trio.fail_after(30):
        await _run(client, "run_sess_001")
        claim = await client.claim_session("run_sess_001")
        nonce = claim["worker_session_nonce"]
        await client.run_heartbeat("run_sess_001", session_nonce=nonce, metrics={"x": 1})
        with pytest.raises(SessionConflictError):
            await client.claim_session("run_sess_001")
        order = equity_market_order("INFY", "BUY", 1)
        with pytest.raises(SessionRequiredError):
            await client.place_order("run_sess_001", order, idempotency_key="run_sess_001:entry:1")
        # the seed form of a decision event is translated and carries the nonce
        event = await client.log_decision_event(
            "run_sess_001",
            session_nonce=nonce,
            event_type="signal.generated",
            summary="EMA crossover detected",
            details={"fast": 1.0},
        )
        assert event["event_type"] == "decision.signal"
        await client.release_session("run_sess_001", session_nonce=nonce)
        timeline = await client.list_timeline_snapshot("run_sess_001", limit=50)
        assert any(e.event_type == "decision.signal" and e.summary for e in timeline.events)


async def test_idempotent_place_and_concurrent_same_key(
    client: AsyncKiteAlgoWorkerClient, sandbox: SandboxHandle, autojump_clock: object
) -> None:
    with trio.fail_after(30):
        await _run(client, "run_idem_001")
        safety = await client.safety_check("run_idem_001")
        assert safety.can_trade and safety["can_trade"]
        order = equity_market_order("INFY", "BUY", 1)
        results: list[object] = []

        async def place() -> None:
            results.append(
                await client.place_order(
                    "run_idem_001",
                    order,
                    idempotency_key="  run_idem_001:entry:1 ",
                    safety_token=safety.safety_token,
                )
            )

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(place)
        assert len(results) == 3
        first = results[0]
        order_ids = {r["result"]["order"]["order_id"] for r in results}  # type: ignore[index]
        assert len(order_ids) == 1  # one order placed; the other two were replays
        assert first is not None
        with pytest.raises(ClientValidationError):
            await client.place_order("run_idem_001", order, idempotency_key="short")
        with pytest.raises(OrderRuleError):
            await client.place_order(
                "run_idem_001", {**order, "quantity": 0}, idempotency_key="run_idem_001:x:1"
            )
        pnl = await client.get_run_pnl("run_idem_001")
        assert "totals" in pnl


async def test_basket_and_exit(client: AsyncKiteAlgoWorkerClient, autojump_clock: object) -> None:
    with trio.fail_after(30):
        await _run(client, "run_bask_001")
        basket = await client.place_basket(
            "run_bask_001",
            [equity_market_order("INFY", "BUY", 1), equity_market_order("RELIANCE", "BUY", 1)],
            idempotency_key="run_bask_001:basket:001",
            all_or_none=True,
        )
        assert basket["status"] == "accepted"
        assert basket["result"]["status"] == "success" and len(basket["result"]["results"]) == 2
        result = await client.exit_run("run_bask_001", reason="done", idempotency_key="run_bask_001:exit:1")
        assert result["run"]["status"] == "closed"


async def test_ensure_run_and_managed_run(client: AsyncKiteAlgoWorkerClient, autojump_clock: object) -> None:
    with trio.fail_after(30):
        protection = BackendProtection(
            operations=OperationalProtection(exit_on_worker_stale=True, worker_stale_sec=300)
        )
        config = RunConfig(
            strategy_run_id="run_man_001",
            template_id="managed-demo",
            execution_mode="paper",
            backend_protection=protection,
        )
        assert config.backend_protection == protection.to_dict()
        run, created = await client.ensure_run(config)
        assert created and run["strategy_run_id"] == "run_man_001"
        run, created = await client.ensure_run(config)
        assert not created
        with pytest.raises(RunConfigMismatchError):
            await client.ensure_run(config.model_copy(update={"execution_mode": "dry_run"}))
        async with client.run(config) as managed:
            assert managed.session_nonce
            safety = await managed.safety_check()
            assert safety.can_trade
            await managed.place_order(
                equity_market_order("INFY", "BUY", 1),
                idempotency_key=f"{managed.run_id}:entry:001",
                safety_token=safety.safety_token,
            )
            await managed.heartbeat(metrics={"last_signal": "entry-001"})
            await managed.log_decision_event(event_type="note", summary="managed note")
        after = await client.get_run("run_man_001")
        assert not after.get("worker_session_nonce")


async def test_auth_error_never_shows_token(sandbox: SandboxHandle, autojump_clock: object) -> None:
    bad = "kwa_" + "z" * 43
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=bad)
    assert bad not in repr(config) and bad not in str(config)
    async with AsyncKiteAlgoWorkerClient(config) as client:
        assert bad not in repr(client)
        with trio.fail_after(30):
            with pytest.raises(AuthError) as err:
                await client.get_run("run_x_00001")
    assert bad not in str(err.value) and bad not in repr(err.value)
    assert TOKEN not in str(err.value)


async def test_live_gate_refuses_before_network(
    client: AsyncKiteAlgoWorkerClient, recorder: RecordingTransport, autojump_clock: object
) -> None:
    from supervisor.client import LiveTradingRefusedError

    with pytest.raises(LiveTradingRefusedError) as refused:
        await client.create_run(template_id="t", account_scope="kite:paper-a", execution_mode="live")
    assert refused.value.rule == "live_gate" and "KITE_ALGO_ENABLE_LIVE=1" in str(refused.value)
    assert recorder.seen == []


async def test_same_key_never_in_flight_twice(
    client: AsyncKiteAlgoWorkerClient,
    sandbox: SandboxHandle,
    recorder: RecordingTransport,
    autojump_clock: object,
) -> None:
    await _run(client, "run_lock_0001")
    sandbox.faults.add(path="/worker/runs/run_lock_0001/intents", latency_s=2.0)
    path = "/api/algo-workers/worker/runs/run_lock_0001/intents"
    order = equity_market_order("INFY", "BUY", 1)

    async def place(key: str) -> None:
        await client.place_order("run_lock_0001", order, idempotency_key=key)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(place, "run_lock_0001:same:1")
        assert recorder.max_in_flight[path] == 1
        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(place, f"run_lock_0001:distinct:{i}")
        assert recorder.max_in_flight[path] == 3


async def test_create_run_recovers_get_then_create(
    client: AsyncKiteAlgoWorkerClient, recorder: RecordingTransport, autojump_clock: object
) -> None:
    path = "/api/algo-workers/worker/runs"
    with trio.fail_after(30):
        first = await _run(client, "run_recover_01")
        assert recorder.seen == [("GET", f"{path}/run_recover_01"), ("POST", path)]
        await client.patch_risk("run_recover_01", {"max_loss": 5.0})
        again = await _run(client, "run_recover_01")  # a restarted script: recovered, not re-created
        assert recorder.seen[-1] == ("GET", f"{path}/run_recover_01")
        assert (
            again["runtime_state"]["risk"] == {"max_loss": 5.0}
            and first["strategy_run_id"] == "run_recover_01"
        )
        with pytest.raises(RunConfigMismatchError) as mismatch:
            await _run(client, "run_recover_01", mode="dry_run")
        assert "execution_mode" in str(mismatch.value) and recorder.seen[-1][0] == "GET"
        await client.create_run(template_id="t", account_scope="kite:paper-a", execution_mode="paper")
        assert recorder.seen[-1] == ("POST", path)  # no id: nothing to recover, create directly
    assert [m for m, p in recorder.seen if p == path].count("POST") == 2


async def test_create_race_lost_recovers_the_winner() -> None:
    import httpx

    replies = iter([
        httpx.Response(404, json={"detail": "Strategy run not found"}),
        httpx.Response(409, json={"detail": "Strategy run already exists"}),
        httpx.Response(200, json={"strategy_run_id": "run_race_001", "template_id": "t",
                                  "account_scope": "kite:paper-a", "execution_mode": "paper"}),
    ])  # fmt: skip
    config = AlgoWorkerConfig(base_url="http://127.0.0.1:9", token=TOKEN)
    transport = httpx.MockTransport(lambda request: next(replies))
    async with AsyncKiteAlgoWorkerClient(config, transport=transport, environ={}) as client:
        with trio.fail_after(10):
            run, created = await client.ensure_run(
                RunConfig(strategy_run_id="run_race_001", template_id="t", execution_mode="paper")
            )
    assert run["strategy_run_id"] == "run_race_001" and not created


async def test_managed_run_does_only_claim_heartbeat_release(
    client: AsyncKiteAlgoWorkerClient, recorder: RecordingTransport, autojump_clock: object
) -> None:
    """``client.run`` never exits the run, never calls safety-check, never heartbeats again."""
    config = RunConfig(strategy_run_id="run_man_wire01", template_id="t", execution_mode="paper")
    base = "/api/algo-workers/worker/runs"
    with trio.fail_after(120):
        async with client.run(config) as managed:
            await trio.sleep(100)  # a quiet body: nothing happens on our behalf meanwhile
            assert managed.run["status"] == "open"
    assert recorder.seen == [
        ("GET", f"{base}/run_man_wire01"),
        ("POST", base),
        ("POST", f"{base}/run_man_wire01/claim-session"),
        ("POST", f"{base}/run_man_wire01/heartbeat"),
        ("DELETE", f"{base}/run_man_wire01/claim-session"),
    ]
    assert (await client.get_run("run_man_wire01"))["status"] == "open"  # not exited


async def test_invalid_orders_never_reach_the_wire(
    client: AsyncKiteAlgoWorkerClient, recorder: RecordingTransport, autojump_clock: object
) -> None:
    from supervisor.client import OrderRuleError

    await _run(client, "run_rules_001")
    sent = len(recorder.seen)
    bad = {**equity_market_order("INFY", "BUY", 1), "tag": "mine"}
    with trio.fail_after(30):
        for call in (
            client.place_order("run_rules_001", bad, idempotency_key="run_rules_001:e:1"),
            client.place_basket("run_rules_001", [bad], idempotency_key="run_rules_001:b:1"),
            client.preview_order("run_rules_001", bad),
            client.preview_basket("run_rules_001", [bad]),
        ):
            with pytest.raises(OrderRuleError) as refused:
                await call
            assert refused.value.rule == "attribution_forbidden"
    assert len(recorder.seen) == sent


async def test_lookback_days_ends_at_the_injected_wall_clock_not_the_machines(
    sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    class Queries(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()
            self.params: list[dict[str, str]] = []

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.params.append(dict(request.url.params))
            return await self.inner.handle_async_request(request)

    # a backtest's client lives in June 2026 whatever day the machine says
    june = dt.datetime(2026, 6, 10, 9, 0, tzinfo=dt.UTC)
    seen = Queries()
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
    async with AsyncKiteAlgoWorkerClient(config, transport=seen, wall_clock=june.timestamp) as client:
        await client.get_historical_candles("NSE:INFY", timeframe="day", lookback_days=3)
    assert dt.datetime.fromisoformat(seen.params[0]["to"]) == june
    assert dt.datetime.fromisoformat(seen.params[0]["from"]) == june - dt.timedelta(days=3)
