"""Get-then-create outcomes, what heartbeats report, operator restart over HTTP, statistics."""

from __future__ import annotations

import argparse
import io
import random
from functools import partial
from typing import Any

import httpx
import trio
import trio.testing

from supervisor._commands import format_status
from supervisor._http import serve_http
from supervisor._managed_run import takeover_wait_s
from supervisor._strategy import StrategyContext
from supervisor._supervisor import Supervisor
from supervisor.sandbox import SandboxHandle

from .conftest import resolved, settings
from .strategies import CrashAtOnce, Idle


class Trader(Idle):
    """Uses ctx.key and the session-bound run (one order, as a strategy would decide to)."""

    seen: list[StrategyContext] = []

    async def run(self, ctx: StrategyContext) -> None:
        Trader.seen.append(ctx)
        ctx.progress(signal="none", equity=1.5)
        await super().run(ctx)


async def test_mismatched_and_closed_runs_fail_only_their_strategy(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    await client.create_run(
        strategy_run_id="run-mm", template_id="other", account_scope="kite:paper-a", execution_mode="paper"
    )
    await client.create_run(
        strategy_run_id="run-closed", template_id="tmpl", account_scope="kite:paper-a", execution_mode="paper"
    )
    sandbox.state.runs["run-closed"].status = "closed"
    sup = Supervisor(
        [resolved("mm", Idle), resolved("closed", Idle), resolved("ok", Idle)],
        client=client,
        settings=settings(),
    )
    await nursery.start(sup.serve)
    await trio.sleep(1)
    mm, closed, ok = (sup.runners[n] for n in ("mm", "closed", "ok"))
    assert mm.state == "failed"
    assert mm.reason == "existing run run-mm differs: template_id: run has 'other', config wants 'tmpl'"
    assert closed.state == "failed"
    assert closed.reason == "run run-closed is closed; it is not replaced (use a new strategy_run_id)"
    assert ok.state == "running" and ok.recovered is False
    assert sandbox.state.runs["run-closed"].worker_session_nonce is None  # never claimed
    assert not sup.ready()  # failed strategies keep the daemon unready: an operator must act


async def test_heartbeats_report_the_real_state_and_ctx_is_complete(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    bodies: list[dict[str, Any]] = []
    real = client.run_heartbeat

    async def spy(run_id: str, **kwargs: Any) -> Any:
        bodies.append({"run_id": run_id, **kwargs})
        return await real(run_id, **kwargs)

    client.run_heartbeat = spy
    Trader.seen.clear()
    sup = Supervisor(
        [resolved("t", Trader), resolved("c", CrashAtOnce)],
        client=client,
        settings=settings(),
        rng=random.Random(2),
    )
    await nursery.start(sup.serve)
    await trio.sleep(11)
    ctx = Trader.seen[0]
    assert ctx.name == "t" and ctx.recovered is False
    assert (
        ctx.run.run_id == "run-t"
        and ctx.run.session_nonce == sandbox.state.runs["run-t"].worker_session_nonce
    )
    assert ctx.run.run["strategy_run_id"] == "run-t"
    assert ctx.key("entry", 20260508) == "run-t:entry:20260508"
    assert "wsn_" not in repr(ctx.run)
    t_beats = [b for b in bodies if b["run_id"] == "run-t" and b["status"] != "starting"]
    assert t_beats[-1]["status"] == "healthy"
    assert t_beats[-1]["metrics"]["state"] == "running"
    assert t_beats[-1]["metrics"]["strategy"] == {"signal": "none", "equity": 1.5, "ticks": 1}
    assert t_beats[-1]["metrics"]["progress_age_s"] <= 1.0
    # the crashing strategy is never reported healthy while it is backing off
    c_beats = [b for b in bodies if b["run_id"] == "run-c" and b["status"] != "starting"]
    assert c_beats and all(b["status"] == "degraded" for b in c_beats)
    assert all(b["metrics"]["state"] == "backoff" for b in c_beats)


async def test_operator_restart_over_http_and_statistics(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    sup = Supervisor(
        [resolved("q", CrashAtOnce), resolved("i", Idle)],
        client=client,
        settings=settings(),
        rng=random.Random(5),
    )
    await nursery.start(sup.serve)
    url = await nursery.start(
        partial(
            serve_http,
            sup,
            port=0,
            metrics_handler=lambda: (b"m 1\n", "text/plain"),
            operator_token="op-secret",
        )
    )
    await trio.sleep(60)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert (await http.get("/metrics")).text == "m 1\n"
        status = (await http.get("/status")).json()
        assert {s["name"]: s["state"] for s in status["strategies"]} == {"q": "quarantined", "i": "running"}
        assert status["ready"] is True
        assert (await http.post("/strategies/q/restart")).status_code == 401  # no operator token
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.post("/strategies/q/restart", headers=wrong)).status_code == 401
        operator = {"Authorization": "Bearer op-secret"}
        response = await http.post("/strategies/q/restart", headers=operator)
        assert response.status_code == 202 and "op-secret" not in response.text
        assert (
            await http.post("/strategies/i/restart", headers=operator)
        ).status_code == 202  # restarts the body
        await trio.sleep(0.1)
        assert sup.runners["q"].state in ("running", "backoff")
    stats = sup.statistics()
    by_name = {s.name: s for s in stats.strategies}
    q, i = by_name["q"], by_name["i"]
    assert q.quarantines == 1 and q.restarts >= 4
    assert q.operator_restarts == 1 and i.operator_restarts == 1
    assert {s["name"]: s["operator_restarts"] for s in status["strategies"]} == {"q": 0, "i": 0}
    assert q.session_claims == {"ok": 2} and q.session_releases == {"ok": 1}
    assert i.state == "running" and i.heartbeats_ok == 12 and i.heartbeats_missed == 0
    assert i.last_heartbeat_unix is not None
    table = format_status(status, now=trio.current_time())
    assert table.splitlines()[0].split()[:3] == ["NAME", "STATE", "MODE"]
    assert "q     quarantined" in table and table.splitlines()[-1] == "needs attention: q"
    out = io.StringIO()
    from supervisor._commands import cmd_status

    # the blocking status command against a port nobody serves: a clear error, exit 1
    assert cmd_status(argparse.Namespace(url="http://127.0.0.1:9"), out=out) == 1
    assert "error: cannot read http://127.0.0.1:9/status" in out.getvalue()


async def take(events: Any, n: int) -> list[Any]:
    out = []
    async for event in events:
        out.append(event)
        if len(out) == n:
            break
    return out


async def test_stream_subscriptions_without_a_hub(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    got: dict[str, list[Any]] = {}
    done = trio.Event()

    class Streams(Idle):
        async def run(self, ctx: StrategyContext) -> None:
            async with ctx.ticks(["NSE:INFY"]) as ticks:
                got["ticks"] = await take(ticks, 2)
            async with ctx.candles("NSE:INFY", "minute") as candles:
                got["candles"] = await take(candles, 1)
            async with ctx.pnl() as pnl:
                got["pnl"] = await take(pnl, 1)
            done.set()
            await ctx.stopping.wait()

    sup = Supervisor([resolved("st", Streams)], client=client, settings=settings())
    await nursery.start(sup.serve)
    with trio.fail_after(120):
        await done.wait()
    assert len(got["ticks"]) == 2 and len(got["candles"]) == 1 and len(got["pnl"]) == 1
    assert sup.runners["st"].state == "running"


async def test_a_strategy_trades_through_ctx_run_and_the_daemon_adds_nothing(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    results: list[Any] = []

    class BuyOnce(Idle):
        async def run(self, ctx: StrategyContext) -> None:
            safety = await ctx.run.safety_check()
            assert safety.can_trade is True  # attribute access, as in the seed and the README
            order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
                     "variety": "regular", "product": "CNC", "order_type": "MARKET", "quantity": 1,
                     "validity": "DAY"}  # fmt: skip
            for _ in range(2):  # a retry of the same decision reuses its key: one order
                results.append(
                    await ctx.run.place_order(
                        order, idempotency_key=ctx.key("entry", 1), safety_token=safety.safety_token
                    )
                )
            await ctx.stopping.wait()

    sup = Supervisor([resolved("buy", BuyOnce)], client=client, settings=settings())
    await nursery.start(sup.serve)
    await trio.sleep(30)
    assert [r["status"] for r in results][1] == "deduped"
    assert len(sandbox.state.intents) == 1  # one intent record: the strategy's, none of the daemon's
    assert dict(sup.runners["buy"].intents) == {results[0]["status"]: 1, "deduped": 1}
    assert (await sup.shutdown()).exit_code == 0
    assert sandbox.state.runs["run-buy"].status == "open"  # never exited by the daemon


def test_takeover_wait_follows_the_backend_windows() -> None:
    """§4.3.1: 60 s after the holder's last heartbeat (the age is floored to whole seconds,
    hence one more), else 120 s after a claim that was never heartbeated."""
    assert takeover_wait_s({"worker_session_nonce": None}, 0.0) == 0.0
    assert takeover_wait_s({"worker_session_nonce": "wsn_1", "heartbeat_age_sec": 15}, 0.0) == 46.0
    assert takeover_wait_s({"worker_session_nonce": "wsn_1", "heartbeat_age_sec": 75}, 0.0) == 0.0
    claimed = {"worker_session_nonce": "wsn_1", "worker_session_claimed_at": "2026-05-08T09:15:00+00:00"}
    at = 1778231700.0  # 2026-05-08T09:15:00Z
    assert takeover_wait_s(claimed, at + 20) == 101.0
    assert takeover_wait_s(claimed, at + 500) == 0.0
    assert takeover_wait_s({"worker_session_nonce": "wsn_1"}, at) is None
    assert takeover_wait_s({**claimed, "worker_session_claimed_at": "not a date"}, at) is None
