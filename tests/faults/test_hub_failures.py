"""Permanent stream failures reach only the subscribers that asked, each as its own exception,
and are never kept for later subscribers (issue 11, failures 1 and 7).

The real sandbox over loopback refuses the requests: an unknown instrument (the snapshot's
``missing`` list, or ``event: error`` when none is known), a token out of range in a union of
instruments (422 for the whole stream: the hub bisects to find it), an injected 404.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from supervisor.client import AsyncKiteAlgoWorkerClient, BrokerValidationError, NotFoundError
from supervisor.hub import Candle, StreamHub, Subscription, Tick
from supervisor.sandbox import SandboxHandle
from tests.hub.sandboxed import CountingTransport, next_data, open_sandbox_client, start_sandbox

TICKS = "/market/ticks/stream"


@pytest.fixture
async def sandbox(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> SandboxHandle:
    return await start_sandbox(nursery)


@pytest.fixture
def counted() -> CountingTransport:
    return CountingTransport()


@pytest.fixture
async def client(
    sandbox: SandboxHandle, counted: CountingTransport
) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    async with open_sandbox_client(sandbox, counted) as c:
        yield c


@pytest.fixture
async def hub(client: AsyncKiteAlgoWorkerClient, nursery: trio.Nursery) -> StreamHub:
    started: StreamHub = await nursery.start(StreamHub(client, rng=random.Random(5)).serve)
    return started


async def raised(sub: Subscription, error: type[BaseException]) -> BaseException:
    """The error the subscription raises once what it buffered is taken (blocks)."""
    with pytest.raises(error) as info:
        while True:
            await sub.__anext__()
    return info.value


def frames(exc: BaseException) -> int:
    """Frames in ``exc``'s traceback and those of its chain (what a log line would print)."""
    count = 0
    seen: BaseException | None = exc
    while seen is not None:
        count += len(traceback.extract_tb(seen.__traceback__))
        seen = seen.__cause__ or seen.__context__
    return count


async def test_unknown_instrument_fails_only_its_subscribers_each_with_its_own_error(
    hub: StreamHub,
    sandbox: SandboxHandle,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(120):
        async with (
            hub.ticks(["NSE:INFY"], subscriber="good") as good,
            hub.ticks(["NSE:NOPE"], subscriber="bad") as bad,
            hub.ticks(["NSE:NOPE", "NSE:TCS"], subscriber="both") as both,
        ):
            first = await raised(bad, NotFoundError)
            second = await raised(both, NotFoundError)
            assert first is not second and first.__cause__ is not second.__cause__
            assert isinstance(first.__cause__, NotFoundError) and first.__cause__.__traceback__ is None
            again = await raised(bad, NotFoundError)  # reading again: yet another object
            assert again is not first and frames(again) == frames(first)
            for _ in range(3):  # the others stream on, and keep doing so
                assert (await next_data(good, Tick))[0].tradingsymbol == "INFY"
            assert hub.statistics().failures == {"ticks": 1}
            assert "NSE:NOPE|quote" not in {t.key for t in hub.statistics().topics}
    assert "failed for good" in caplog.text and sandbox.token not in caplog.text
    assert sandbox.token not in repr(first) + str(first) + repr(first.__cause__)


async def test_tracebacks_do_not_grow_across_resubscriptions(
    hub: StreamHub, counted: CountingTransport, autojump_clock: trio.testing.MockClock
) -> None:
    # a strategy restarted by the runner resubscribes well within the topic's 5 s linger
    errors: list[BaseException] = []
    with trio.fail_after(120):
        async with hub.ticks(["NSE:INFY"], subscriber="other") as other:
            for _ in range(4):
                async with hub.ticks(["NSE:NOPE"], subscriber="crashy") as sub:
                    errors.append(await raised(sub, NotFoundError))
                assert (await next_data(other, Tick))[0].tradingsymbol == "INFY"
    assert len({id(e) for e in errors}) == 4
    assert len({id(e.__cause__) for e in errors}) == 4
    assert len({frames(e) for e in errors}) == 1, [frames(e) for e in errors]
    assert counted.count(TICKS) >= 5  # each subscription asked upstream again


async def test_a_later_subscriber_does_not_inherit_a_failure(
    hub: StreamHub, sandbox: SandboxHandle, counted: CountingTransport, autojump_clock: trio.testing.MockClock
) -> None:
    rule = sandbox.faults.add(path="/worker/market/candles/stream", status=404, times=1)
    with trio.fail_after(120):
        async with hub.candles("NSE:INFY", "minute", subscriber="early") as early:
            error = await raised(early, NotFoundError)
            assert rule.fired == 1
            async with hub.candles("NSE:INFY", "minute", subscriber="late") as late:
                candle, _ = await next_data(late, Candle)  # asked upstream again: answered
                assert candle.instrument_token == 408065
            again = await raised(early, NotFoundError)  # early stays failed, fresh each time
            assert again is not error and again.__cause__ is error.__cause__ is not None
    assert counted.count("/market/candles/stream") == 2
    assert hub.statistics().failures == {"candles": 1}


async def test_a_union_of_only_unknown_instruments_fails_each_on_its_own(
    hub: StreamHub, counted: CountingTransport, autojump_clock: trio.testing.MockClock
) -> None:
    # `event: error` "At least one valid symbol or instrument token is required" (§5.2)
    with trio.fail_after(120):
        async with (
            hub.ticks(["NSE:NOPE"], subscriber="a") as a,
            hub.ticks(["NSE:NADA"], subscriber="b") as b,
        ):
            error_a = await raised(a, NotFoundError)
            error_b = await raised(b, NotFoundError)
            assert "NOPE" in str(error_a) and "NADA" in str(error_b)
            assert counted.count(TICKS) == 1  # permanent: not retried
            async with hub.ticks(["NSE:TCS"], subscriber="c") as c:  # a later union works
                assert (await next_data(c, Tick))[0].tradingsymbol == "TCS"


async def test_a_refused_token_in_a_union_fails_only_its_subscriber(
    hub: StreamHub, counted: CountingTransport, autojump_clock: trio.testing.MockClock
) -> None:
    # the sandbox refuses the whole stream (422) for one token out of range; the hub probes
    # halves of the union to find it, fails its subscriber and streams the rest
    with trio.fail_after(120):
        async with (
            hub.ticks(["NSE:INFY", "NSE:TCS", "NSE:SBIN"], subscriber="good") as good,
            hub.ticks([99_999_999_999], subscriber="bad") as bad,
        ):
            await raised(bad, BrokerValidationError)
            seen = {(await next_data(good, Tick))[0].tradingsymbol for _ in range(6)}
            assert seen == {"INFY", "TCS", "SBIN"}
            assert counted.count(TICKS, 422) <= 4  # the union, then about 2 log2(4) probes
            assert hub.statistics().failures == {"ticks": 1}
