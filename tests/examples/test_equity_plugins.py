"""basic_equity, managed_lifecycle and live_exit_preview hosted by the real daemon on the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from kite_algo_examples.basic_equity import BasicEquity
from kite_algo_examples.live_exit_preview import LiveExitPreview
from kite_algo_examples.managed_lifecycle import ManagedLifecycle

from supervisor.sandbox import SandboxHandle

from .conftest import decisions, hosted, intent_keys, start_supervisor


async def test_basic_equity_enters_once_reads_pnl_and_never_exits(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    sup = await start_supervisor(
        nursery, client, hosted("basic", BasicEquity, params={"symbol": "INFY", "pnl_interval_s": 5})
    )
    await trio.sleep(30)
    runner = sup.runners["basic"]
    assert runner.state == "running"
    assert intent_keys(sandbox, "run-basic") == ["run-basic:entry:INFY"]
    result = sandbox.state.intents[("run-basic", "run-basic:entry:INFY")]
    assert result["status"] == "filled"
    assert result["order"]["tradingsymbol"] == "INFY"
    assert "net_pnl" in runner.progress.metrics  # the P&L was read and reported
    assert runner.progress.count >= 6  # every 5 s
    assert [e["event_type"] for e in decisions(sandbox, "run-basic")] == ["decision.entry"]
    # a restart of the strategy replays the same key: deduplicated, still one order
    assert sup.restart("basic") == "restarting"
    await trio.sleep(10)
    assert intent_keys(sandbox, "run-basic") == ["run-basic:entry:INFY"]
    assert sandbox.state.runs["run-basic"].status == "open"  # no auto-exit


async def test_managed_lifecycle_checks_safety_before_each_order_and_reports_progress(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    params = {"symbol": "TCS", "orders": 3, "interval_s": 10}
    sup = await start_supervisor(nursery, client, hosted("managed", ManagedLifecycle, params=params))
    await trio.sleep(45)
    assert intent_keys(sandbox, "run-managed") == [f"run-managed:entry:{n}" for n in (1, 2, 3)]
    metrics = sup.runners["managed"].progress.metrics
    assert metrics["orders_placed"] == 3 and metrics["orders_skipped"] == 0
    assert metrics["done"] is True
    entries = decisions(sandbox, "run-managed")
    assert [e["payload"]["action"] for e in entries] == ["enter"] * 3


async def test_managed_lifecycle_skips_an_order_the_safety_check_blocks(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    params = {"orders": 2, "interval_s": 10}
    sup = await start_supervisor(nursery, client, hosted("blocked", ManagedLifecycle, params=params))
    await trio.sleep(1)
    assert intent_keys(sandbox, "run-blocked") == ["run-blocked:entry:1"]
    # an operator pauses the run: the next safety check says no, and nothing is placed
    sandbox.state.runs["run-blocked"].status = "paused"
    await trio.sleep(15)
    assert intent_keys(sandbox, "run-blocked") == ["run-blocked:entry:1"]
    assert sup.runners["blocked"].progress.metrics["orders_skipped"] == 1
    skip = decisions(sandbox, "run-blocked")[-1]
    assert skip["payload"]["action"] == "skip"
    assert "entry 2 blocked" in skip["summary"]


async def test_live_exit_preview_previews_then_exits_only_past_the_limit(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    params = {"entry_symbol": "RELIANCE", "preview_interval_s": 5, "exit_below_net_pnl": -1e9}
    sup = await start_supervisor(nursery, client, hosted("guard", LiveExitPreview, params=params))
    await trio.sleep(20)
    run = sandbox.state.runs["run-guard"]
    assert run.status == "open"  # previews never change the run
    assert intent_keys(sandbox, "run-guard") == ["run-guard:entry:RELIANCE"]
    preview = decisions(sandbox, "run-guard")[0]
    assert preview["payload"]["action"] == "observe"
    assert preview["payload"]["metadata"]["planned_legs"] == 1
    assert preview["payload"]["metadata"]["symbols"] == ["RELIANCE"]
    assert sup.runners["guard"].progress.metrics["planned_legs"] == 1


async def test_live_exit_preview_exits_with_its_key_when_the_loss_limit_is_crossed(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    # a limit above any P&L: the first check decides to exit (after a preview)
    params = {"entry_symbol": "SBIN", "preview_interval_s": 5, "exit_below_net_pnl": 1e9}
    sup = await start_supervisor(nursery, client, hosted("stop", LiveExitPreview, params=params))
    await trio.sleep(20)
    assert sandbox.state.runs["run-stop"].status == "closed"
    actions = [e["payload"]["action"] for e in decisions(sandbox, "run-stop")]
    assert actions[:2] == ["observe", "exit"]  # previewed first, then the real exit
    assert "session released by the supervisor" in decisions(sandbox, "run-stop")[-1]["summary"]
    assert sup.runners["stop"].state == "stopped"
    assert sup.runners["stop"].progress.metrics["exited"] is True


@pytest.mark.parametrize("gate", [None, "0"])
async def test_a_live_run_is_never_attached_without_the_gate(
    gate: str | None,
    monkeypatch: pytest.MonkeyPatch,
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The run was created live elsewhere; this daemon's environment lacks the acknowledgement:
    the client refuses before the network, so the strategy never starts and the session is
    never claimed; the runner fails visibly (retrying cannot change the answer)."""
    from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient

    if gate is None:
        monkeypatch.delenv("KITE_ALGO_ENABLE_LIVE", raising=False)
    else:
        monkeypatch.setenv("KITE_ALGO_ENABLE_LIVE", gate)
    live_token = sandbox.mint_token(account_scope="kite:AB1234", modes=["live"])
    meta = {"strategy_family": "discretionary_strategy", "strategy_name": "guard"}
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=live_token)
    async with AsyncKiteAlgoWorkerClient(config, environ={"KITE_ALGO_ENABLE_LIVE": "1"}) as creator:
        await creator.create_run(
            strategy_run_id="run-live",
            template_id="live",
            account_scope="kite:AB1234",
            execution_mode="live",
            metadata=meta,
        )
    async with AsyncKiteAlgoWorkerClient(config) as live_client:
        params = {"entry_symbol": "INFY", "exit_below_net_pnl": 1e9}
        strategy = hosted(
            "live", LiveExitPreview, params=params, mode="live", account_scope="kite:AB1234", metadata=meta
        )
        sup = await start_supervisor(nursery, live_client, strategy)
        await trio.sleep(10)
        runner = sup.runners["live"]
        assert runner.state == "failed"
        assert runner.reason is not None and "KITE_ALGO_ENABLE_LIVE=1" in runner.reason
        assert intent_keys(sandbox, "run-live") == []  # no order, no exit
        assert decisions(sandbox, "run-live") == []  # the strategy body never ran
        assert sandbox.state.runs["run-live"].status == "open"
        assert sandbox.state.runs["run-live"].worker_session_nonce is None  # never claimed
        sup.request_shutdown()
        await sup.shutdown()
