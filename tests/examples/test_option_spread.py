"""option_spread hosted by the real daemon: resolvers, the options run, a guarded entry."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from kite_algo_examples.option_spread import OptionSpread

from supervisor.sandbox import SandboxHandle

from .conftest import decisions, hosted, start_supervisor


def options_run(sandbox: SandboxHandle, run_id: str) -> dict[str, Any]:
    runs: dict[str, dict[str, Any]] = sandbox.ctx.engine.book.option_runs
    return runs[run_id]


async def test_option_spread_resolves_creates_enters_once_and_monitors(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    params = {"underlying": "NIFTY", "lots": 2, "monitor_interval_s": 5}
    sup = await start_supervisor(nursery, client, hosted("spread", OptionSpread, params=params))
    await trio.sleep(20)
    runner = sup.runners["spread"]
    assert runner.state == "running"
    run = options_run(sandbox, "run-spread")  # created for our worker run's id
    assert run["status"] == "entered"
    sold, bought = run["legs"]
    assert (sold["transaction_type"], bought["transaction_type"]) == ("SELL", "BUY")
    assert sold["option_type"] == bought["option_type"] == "CE"
    assert bought["strike"] > sold["strike"]  # ATM sold, the next strike up bought
    assert sold["quantity"] == 2 * sold["lot_size"]  # lots x lot size, from the resolver
    logged = decisions(sandbox, "run-spread")
    assert [(e["payload"]["decision_type"], e["payload"]["action"]) for e in logged] == [
        ("signal", "observe"),
        ("entry", "enter"),
    ]
    assert "protection" in runner.progress.metrics and "net_pnl" in runner.progress.metrics
    # a restart recovers the options run from the backend and does not enter again
    assert sup.restart("spread") == "restarting"
    await trio.sleep(10)
    assert options_run(sandbox, "run-spread")["status"] == "entered"
    assert len(decisions(sandbox, "run-spread")) == 2


async def test_option_spread_exits_on_stop_only_when_asked(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    params = {"exit_on_stop": True, "monitor_interval_s": 5}
    sup = await start_supervisor(nursery, client, hosted("closer", OptionSpread, params=params))
    await trio.sleep(10)
    assert options_run(sandbox, "run-closer")["status"] == "entered"
    sup.request_shutdown()
    await sup.shutdown()
    assert options_run(sandbox, "run-closer")["status"] == "exited"
    actions = [e["payload"]["action"] for e in decisions(sandbox, "run-closer")]
    assert actions == ["observe", "enter", "exit"]
