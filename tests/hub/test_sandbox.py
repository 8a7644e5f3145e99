"""The hub on the real sandbox (loopback, same trio run, virtual time) with the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest
import trio
import trio.testing

from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient, NotFoundError
from supervisor.client._backoff import Backoff
from supervisor.hub import StreamResumed, Tick, open_stream_hub
from supervisor.sandbox import SandboxHandle, serve_sandbox

TOKEN = "kwa_" + "h" * 43


class CountingTransport(httpx.AsyncBaseTransport):
    """A real loopback transport that counts requests per path (upstream connection count)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def sandbox(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> SandboxHandle:
    handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN))
    return handle


@pytest.fixture
async def counted() -> CountingTransport:
    return CountingTransport()


@pytest.fixture
async def client(
    sandbox: SandboxHandle, counted: CountingTransport
) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
    async with AsyncKiteAlgoWorkerClient(config, transport=counted, environ={}) as c:
        yield c


def tick_streams(counted: CountingTransport) -> int:
    return sum(p.endswith("/market/ticks/stream") for p in counted.paths)


async def test_many_subscribers_share_one_sandbox_stream(
    client: AsyncKiteAlgoWorkerClient, counted: CountingTransport, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(120):
        async with open_stream_hub(client) as hub:
            prices: dict[int, list[float]] = {}

            async def strategy(i: int) -> None:
                async with hub.ticks(["NSE:INFY"], mode="quote", subscriber=f"s{i}") as ticks:
                    prices[i] = []
                    async for t in ticks:
                        assert isinstance(t, Tick)
                        prices[i].append(t.last_price or 0.0)
                        if len(prices[i]) == 3:
                            return

            async with trio.open_nursery() as n:
                for i in range(20):
                    n.start_soon(strategy, i)
            assert len(prices) == 20 and all(len(v) == 3 and v[-1] > 0 for v in prices.values())
            assert tick_streams(counted) == 1
            (topic,) = hub.statistics().topics
            assert topic.kind == "ticks" and topic.connected and topic.events >= 3


async def test_instruments_share_one_union_stream_resubscribed_on_change(
    client: AsyncKiteAlgoWorkerClient, counted: CountingTransport, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(120):
        async with (
            open_stream_hub(client, linger_s=1.0) as hub,
            hub.ticks(["NSE:INFY"], subscriber="a") as a,
            hub.ticks(["NSE:TCS", 408065], subscriber="b") as b,  # INFY again, by its token
        ):
            assert {(await b.__anext__()).tradingsymbol for _ in range(4)} == {"TCS", "INFY"}
            assert tick_streams(counted) == 1
            async with hub.ticks(["NSE:SBIN"], subscriber="c") as c:
                got = await c.__anext__()
                assert isinstance(got, Tick) and got.tradingsymbol == "SBIN" and (got.last_price or 0) > 0
                assert tick_streams(counted) == 2
                for _ in range(3):  # the others flow on, and only with what they asked for
                    assert (await a.__anext__()).tradingsymbol == "INFY"
                assert hub.statistics().upstream_streams == 1
            with pytest.raises(NotFoundError):  # the sandbox lists it under the snapshot's "missing"
                async with hub.ticks(["NSE:NOPE"], subscriber="d") as d:
                    await d.__anext__()
            assert (await a.__anext__()).tradingsymbol == "INFY"


async def test_a_union_of_unknown_instruments_fails_its_subscribers(
    client: AsyncKiteAlgoWorkerClient, counted: CountingTransport, autojump_clock: trio.testing.MockClock
) -> None:
    # the sandbox answers a stream naming no known instrument with `event: error` (§5.2)
    with trio.fail_after(60):
        async with open_stream_hub(client) as hub, hub.ticks(["NSE:NOPE", "NSE:NADA"], subscriber="a") as a:
            with pytest.raises(NotFoundError):
                await a.__anext__()
            assert tick_streams(counted) == 1  # not retried
            async with hub.ticks(["NSE:TCS"], subscriber="b") as b:  # a later union still works
                assert (await b.__anext__()).tradingsymbol == "TCS"


async def test_reconnect_after_sandbox_drops_stream(
    client: AsyncKiteAlgoWorkerClient,
    sandbox: SandboxHandle,
    counted: CountingTransport,
    autojump_clock: trio.testing.MockClock,
) -> None:
    sandbox.faults.add(path="/worker/market/ticks/stream", stream="drop", after_chunks=3, times=1)
    backoff = partial(Backoff, initial=1.0, maximum=4.0, jitter=0.0)
    with trio.fail_after(120):
        async with (
            open_stream_hub(client, backoff=backoff) as hub,
            hub.ticks(["NSE:INFY"], subscriber="a") as ticks,
        ):
            seen: list[object] = []
            async for item in ticks:
                seen.append(item)
                if isinstance(item, StreamResumed):
                    break
            after = await ticks.__anext__()
            assert isinstance(after, Tick) and (after.last_price or 0) > 0
            assert any(isinstance(s, Tick) for s in seen)
            assert tick_streams(counted) == 2
            assert hub.statistics().topics[0].reconnects == 1


async def test_stalled_stream_is_reconnected_by_the_idle_watchdog(
    client: AsyncKiteAlgoWorkerClient,
    sandbox: SandboxHandle,
    counted: CountingTransport,
    autojump_clock: trio.testing.MockClock,
) -> None:
    # the client's idle limit (30 s) outlasts the server's 15 s keep-alive gap, so only a
    # truly stalled stream (no byte, not even a keep-alive) is torn down and reopened
    sandbox.faults.add(path="/worker/market/ticks/stream", stream="stall", after_chunks=2, times=1)
    backoff = partial(Backoff, initial=1.0, maximum=4.0, jitter=0.0)
    with trio.fail_after(120):
        async with (
            open_stream_hub(client, backoff=backoff) as hub,
            hub.ticks(["NSE:INFY"], subscriber="a") as ticks,
        ):
            async for item in ticks:
                if isinstance(item, StreamResumed):
                    break
                last_tick_at = trio.current_time()
            # idle limit 30 s + backoff 1 s since the last tick
            assert item.gap_s == pytest.approx(31.0, abs=0.5)
            assert trio.current_time() - last_tick_at == pytest.approx(31.0, abs=0.5)
            assert tick_streams(counted) == 2
            assert isinstance(await ticks.__anext__(), Tick)
