"""The order-rate limiter against the real sandbox, on virtual time: three strategies bursting at
the same instant share Kite's 10 order requests per second fairly, counted where the orders
land (the sandbox's paper book), and a wait beyond ``max_wait_s`` is a clear error."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry

from supervisor._metrics import SupervisorMetrics
from supervisor._supervisor import SupervisorStatistics
from supervisor.client import (
    AlgoWorkerConfig,
    AsyncKiteAlgoWorkerClient,
    KiteAlgoWorkerError,
    NotFoundError,
    OrderRateLimitedError,
    equity_market_order,
)
from supervisor.client._order_budget import KITE_ORDER_LIMITS, OrderRateLimits
from supervisor.client._rate_limit import ORDER_ENDPOINTS, OrderRateLimiter
from supervisor.sandbox import SandboxHandle

pytestmark = pytest.mark.usefixtures("autojump_clock")

RUNS = {"run-alpha": "alpha", "run-beta": "beta", "run-gamma": "gamma"}
BURST = 50


def client_for(sandbox: SandboxHandle, limiter: OrderRateLimiter) -> AsyncKiteAlgoWorkerClient:
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
    return AsyncKiteAlgoWorkerClient(config, environ={}, order_limiter=limiter)


async def open_runs(client: AsyncKiteAlgoWorkerClient) -> None:
    for run_id in RUNS:
        await client.create_run(
            strategy_run_id=run_id, template_id="burst", account_scope="kite:paper-a", execution_mode="paper"
        )


def orders_at_sandbox(sandbox: SandboxHandle) -> list[tuple[float, str]]:
    """(seconds since the first order, strategy) of every order the sandbox received, in order."""
    stamps = [
        (dt.datetime.fromisoformat(o["placed_at"]), RUNS[o["metadata"]["strategy_run_id"]])
        for o in sandbox.engine.book.orders
        if o["metadata"]["strategy_run_id"] in RUNS
    ]
    stamps.sort(key=lambda s: s[0])
    start = stamps[0][0]
    return [((at - start).total_seconds(), name) for at, name in stamps]


def busiest_second(times: list[float]) -> int:
    """The most orders in any window [t, t + 1 s)."""
    return max(sum(1 for u in times if t <= u < t + 1.0) for t in times)


Outcomes = dict[str, Counter[str]]


async def burst(
    client: AsyncKiteAlgoWorkerClient, outcomes: Outcomes, refusals: list[OrderRateLimitedError]
) -> None:
    """Every strategy fires BURST orders at the same instant (one task per order)."""

    async def place(run_id: str, i: int) -> None:
        try:
            result = await client.place_order(
                run_id, equity_market_order("INFY", "BUY", 1), idempotency_key=f"{run_id}:burst:{i:03d}"
            )
            outcomes[RUNS[run_id]][str(result["result"]["status"])] += 1
        except OrderRateLimitedError as exc:
            outcomes[RUNS[run_id]]["refused"] += 1
            refusals.append(exc)

    async with trio.open_nursery() as nursery:
        for run_id in RUNS:
            for i in range(BURST):
                nursery.start_soon(place, run_id, i)


async def test_three_bursting_strategies_share_ten_per_second_fairly(
    sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    limiter = OrderRateLimiter(KITE_ORDER_LIMITS, max_wait_s=60, names=RUNS)
    outcomes: dict[str, Counter[str]] = {name: Counter() for name in RUNS.values()}
    refused: list[OrderRateLimitedError] = []
    with trio.fail_after(120):
        async with client_for(sandbox, limiter) as client:
            await open_runs(client)
            started = trio.current_time()
            await burst(client, outcomes, refused)
            took = trio.current_time() - started
    assert refused == []
    assert {name: sum(c.values()) for name, c in outcomes.items()} == dict.fromkeys(RUNS.values(), BURST)
    landed = orders_at_sandbox(sandbox)
    assert len(landed) == 3 * BURST
    times = [t for t, _ in landed]
    assert busiest_second(times) == 10  # never more than Kite's 10 per second reach the backend
    assert 14.0 <= took < 15.0  # 150 orders at 10 per second: the last ten go out at t = 14 s
    # the first slots are shared: 10 at once (4/3/3), then ten per strategy in the first three seconds
    first_instant = Counter(name for t, name in landed if t == 0.0)
    assert sum(first_instant.values()) == 10 and min(first_instant.values()) >= 3
    assert Counter(name for t, name in landed if t < 3.0) == dict.fromkeys(RUNS.values(), 10)
    stats = {s.strategy: s for s in limiter.statistics().strategies}
    assert sum(s.granted for s in stats.values()) == 150
    assert sum(s.waits for s in stats.values()) == 140  # all but the first ten waited
    assert all(s.refusals == 0 for s in stats.values())
    assert limiter.statistics().waiting == 0


async def test_a_wait_beyond_max_wait_s_is_a_clear_error_and_is_counted(
    sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    limiter = OrderRateLimiter(KITE_ORDER_LIMITS, max_wait_s=2.0, names=RUNS)
    outcomes: dict[str, Counter[str]] = {name: Counter() for name in RUNS.values()}
    refused: list[OrderRateLimitedError] = []
    with trio.fail_after(60):
        async with client_for(sandbox, limiter) as client:
            await open_runs(client)
            await burst(client, outcomes, refused)
    # slots at t = 0, 1 and 2 s went out (ten per strategy), the other 120 were refused at 2 s
    assert {name: c["refused"] for name, c in outcomes.items()} == dict.fromkeys(RUNS.values(), 40)
    assert len(orders_at_sandbox(sandbox)) == 30
    error = refused[0]
    assert isinstance(error, KiteAlgoWorkerError)  # in the client's one error tree
    assert error.limit == "10 order requests per second"
    assert error.retry_after is not None and 0 < error.retry_after <= 1.0
    assert "POST /worker/runs/{run_id}/intents refused for strategy" in str(error)
    assert "max_wait_s is 2" in str(error)
    assert sandbox.token not in str(error) and sandbox.token not in repr(limiter)
    stats = {s.strategy: s for s in limiter.statistics().strategies}
    assert {name: s.refusals for name, s in stats.items()} == dict.fromkeys(RUNS.values(), 40)
    assert sum(s.waits for s in stats.values()) == 140
    # the counters reach /metrics as kite_supervisor_order_rate_*_total{strategy}
    registry = CollectorRegistry()
    SupervisorMetrics(_NoStrategies(), order_rate=limiter, registry=registry, process_collector=False)
    for name, s in stats.items():
        labels = {"strategy": name}
        assert registry.get_sample_value("kite_supervisor_order_rate_refusals_total", labels) == 40
        assert registry.get_sample_value("kite_supervisor_order_rate_waits_total", labels) == s.waits


class _NoStrategies:
    def statistics(self) -> SupervisorStatistics:
        return SupervisorStatistics(strategies=())


async def test_a_spent_daily_cap_and_an_oversized_basket_are_refused_at_once(
    sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    limits = OrderRateLimits(per_second=10, per_minute=200, per_day=12)
    limiter = OrderRateLimiter(limits, max_wait_s=30, names=RUNS)
    order = equity_market_order("INFY", "BUY", 1)
    with trio.fail_after(60):
        async with client_for(sandbox, limiter) as client:
            await open_runs(client)
            for i in range(12):
                await client.place_order("run-alpha", order, idempotency_key=f"run-alpha:day:{i:03d}")
            before = trio.current_time()
            spent = "the account's budget of 12 orders per day"
            with pytest.raises(OrderRateLimitedError, match=spent) as info:
                await client.place_order("run-beta", order, idempotency_key="run-beta:day:000")
            assert trio.current_time() == before  # no pointless wait: it could never end in time
            assert info.value.limit == "12 orders per day"
            assert info.value.retry_after is not None and info.value.retry_after > 86_000
            with pytest.raises(OrderRateLimitedError, match="11 orders in one request can never fit") as info:
                await client.place_basket("run-gamma", [order] * 11, idempotency_key="run-gamma:basket:1")
            assert info.value.limit == "10 order requests per second" and info.value.retry_after is None
    assert len(orders_at_sandbox(sandbox)) == 12  # nothing refused was sent
    stats = {s.strategy: s.refusals for s in limiter.statistics().strategies}
    assert stats == {"alpha": 0, "beta": 1, "gamma": 1}


async def test_a_basket_costs_one_slot_per_leg_and_reads_are_not_limited(
    sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    limiter = OrderRateLimiter(KITE_ORDER_LIMITS, max_wait_s=30, names=RUNS)
    order = equity_market_order("INFY", "BUY", 1)
    with trio.fail_after(60):
        async with client_for(sandbox, limiter) as client:
            await open_runs(client)
            start = trio.current_time()
            await client.place_basket("run-alpha", [order] * 8, idempotency_key="run-alpha:basket:1")
            await client.place_basket("run-alpha", [order] * 3, idempotency_key="run-alpha:basket:2")
            assert trio.current_time() - start == pytest.approx(1.0)  # 8 + 3 > 10: the second waited
            for _ in range(30):  # reads never draw on the budget
                await client.get_run("run-alpha")
            assert trio.current_time() - start < 1.5
            await client.exit_run("run-alpha", dry_run=True)  # places nothing: costs nothing
            # cancel and modify name their run in the body; the order is unknown to the backend,
            # but the request went out, so it took a slot
            with pytest.raises(NotFoundError):
                await client.cancel_order("run-beta", "PAPER-0")
            with pytest.raises(NotFoundError):
                await client.modify_order("run-beta", "PAPER-0", {"quantity": 2})
    alpha, beta = limiter.statistics().strategies
    assert (alpha.strategy, alpha.granted, alpha.waits) == ("alpha", 2, 1)
    assert alpha.wait_seconds == pytest.approx(1.0)
    assert (beta.strategy, beta.granted) == ("beta", 2)


async def test_a_cancelled_wait_withdraws_its_request(
    sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    limiter = OrderRateLimiter(OrderRateLimits(per_second=1, per_minute=200, per_day=3000), max_wait_s=30)
    order = equity_market_order("INFY", "BUY", 1)
    with trio.fail_after(60):
        async with client_for(sandbox, limiter) as client:
            await open_runs(client)
            await client.place_order("run-alpha", order, idempotency_key="run-alpha:c:000")
            with trio.move_on_after(0.5) as scope:
                await client.place_order("run-alpha", order, idempotency_key="run-alpha:c:001")
            assert scope.cancelled_caught
            assert limiter.statistics().waiting == 0
            await client.place_order("run-beta", order, idempotency_key="run-beta:c:000")
    times = [t for t, _ in orders_at_sandbox(sandbox)]
    assert times == [0.0, 1.0]  # the withdrawn order never went out; beta took the next slot


def test_the_limited_endpoints_are_the_ones_that_place_or_change_orders() -> None:
    assert sorted(ORDER_ENDPOINTS) == [
        "cancel_order",
        "exit_run",
        "intents",
        "modify_order",
        "options.enter",
        "options.exit",
    ]
