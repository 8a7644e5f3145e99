"""The hub on an in-memory upstream (the opener seam) with virtual time."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel

from supervisor.client._backoff import Backoff
from supervisor.client._errors import StreamDisconnectedError
from supervisor.hub import (
    StreamHub,
    StreamResumed,
    SubscriberLagged,
    Tick,
    TimelineEvent,
    open_stream_hub,
)

from .conftest import FakeUpstream, tick


def hub_kwargs(upstream: FakeUpstream, **kw: Any) -> dict[str, Any]:
    return {"opener": upstream.open, "backoff": lambda: Backoff(initial=1.0, maximum=4.0, jitter=0.0), **kw}


async def test_fan_out_many_subscribers_one_upstream(upstream: FakeUpstream, autojump_clock: Any) -> None:
    with trio.fail_after(30):
        async with open_stream_hub(**hub_kwargs(upstream)) as hub:
            got: dict[int, list[float]] = {}

            async def strategy(i: int, ready: trio.Event) -> None:
                async with hub.ticks([101], subscriber=f"s{i}") as ticks:
                    ready.set()
                    got[i] = []
                    async for t in ticks:
                        assert isinstance(t, Tick)
                        got[i].append(t.last_price or 0)
                        if len(got[i]) == 3:
                            return

            async with trio.open_nursery() as n:
                for i in range(100):
                    ready = trio.Event()
                    n.start_soon(strategy, i, ready)
                    await ready.wait()
                await trio.sleep(0.1)
                assert len(upstream.opens) == 1
                for p in (1.0, 2.0, 3.0):
                    upstream.emit("ticks", 101, {"ticks": [tick(101, p)]})
                    await trio.sleep(0.01)
            assert all(v == [1.0, 2.0, 3.0] for v in got.values()) and len(got) == 100
            assert upstream.connections == 1  # still lingering


async def test_slow_subscriber_does_not_delay_others(upstream: FakeUpstream, autojump_clock: Any) -> None:
    with trio.fail_after(30):
        async with (
            open_stream_hub(**hub_kwargs(upstream, capacity=8)) as hub,
            hub.ticks([1, 2], subscriber="slow") as slow,
            hub.ticks([1, 2], subscriber="fast") as fast,
        ):
            await trio.sleep(0.1)
            for n in range(1000):
                upstream.emit("ticks", 1 + n % 2, {"ticks": [tick(1 + n % 2, float(n))]})
                await trio.lowlevel.checkpoint()
                got = await fast.__anext__()
                assert got.last_price == float(n)  # no wait behind the slow one
            assert len(slow.buffer) <= 8
            stats = {s.name: s for s in hub.statistics().subscribers}
            assert stats["slow"].queue_depth == 2 and stats["slow"].conflations == 998
            assert stats["fast"].delivered == 1000 and stats["fast"].conflations == 0
            # the slow one sees the latest value per instrument
            assert [(await slow.__anext__()).last_price for _ in range(2)] == [998.0, 999.0]


async def test_reconnect_after_dropped_stream_marks_resume(
    upstream: FakeUpstream, autojump_clock: Any
) -> None:
    with trio.fail_after(30):
        async with open_stream_hub(**hub_kwargs(upstream)) as hub, hub.ticks([7], subscriber="a") as ticks:
            await trio.sleep(0.1)
            upstream.emit("ticks", 7, {"ticks": [tick(7, 1.0)]})
            assert (await ticks.__anext__()).last_price == 1.0
            t0 = trio.current_time()
            upstream.emit("ticks", 7, StreamDisconnectedError("dropped"))
            await trio.sleep(0.01)
            (topic,) = hub.statistics().topics
            assert not topic.connected and topic.reconnects == 1
            marker = await ticks.__anext__()
            assert isinstance(marker, StreamResumed) and marker.kind == "ticks"
            assert trio.current_time() - t0 == pytest.approx(1.0, abs=0.02)  # backoff initial
            assert len(upstream.opens) == 2 and hub.statistics().topics[0].connected
            upstream.emit("ticks", 7, {"ticks": [tick(7, 2.0)]})
            assert (await ticks.__anext__()).last_price == 2.0


def event(c: int) -> dict[str, Any]:
    return {"cursor": c, "event_type": "decision", "unknown_field": True}


async def test_timeline_resumes_from_last_cursor(upstream: FakeUpstream, autojump_clock: Any) -> None:
    with trio.fail_after(30):
        async with (
            open_stream_hub(**hub_kwargs(upstream)) as hub,
            hub.timeline("run-1", after_cursor=5, subscriber="a") as events,
        ):
            await trio.sleep(0.01)
            assert upstream.opens[-1][2] == 5
            for c in (6, 7):
                upstream.emit("timeline", "run-1", event(c))
            assert [(await events.__anext__()).cursor for _ in range(2)] == [6, 7]
            upstream.emit("timeline", "run-1", StreamDisconnectedError("dropped"))
            await trio.sleep(2)
            assert upstream.opens[-1][2] == 7  # resumed after the last cursor
            assert isinstance(await events.__anext__(), StreamResumed)
            for c in (7, 8):  # the server's backfill may repeat: deduplicated by cursor
                upstream.emit("timeline", "run-1", event(c))
            assert (await events.__anext__()) == TimelineEvent(cursor=8, event_type="decision")


async def test_lag_error_and_recovery(upstream: FakeUpstream, autojump_clock: Any) -> None:
    with trio.fail_after(30):
        async with (
            open_stream_hub(**hub_kwargs(upstream)) as hub,
            hub.timeline("r", after_cursor=0, subscriber="a", capacity=4) as events,
        ):
            await trio.sleep(0.01)
            upstream.emit("timeline", "r", event(1))
            assert (await events.__anext__()).cursor == 1
            for c in range(2, 12):
                upstream.emit("timeline", "r", event(c))
            await trio.sleep(0.01)
            with pytest.raises(SubscriberLagged) as info:
                await events.__anext__()
            assert info.value.last_cursor == 1
            assert hub.statistics().subscribers[0].lags == 1
            # recovery: resubscribe from the last cursor; the open topic backfills from its ring
            async with hub.timeline("r", after_cursor=info.value.last_cursor, subscriber="a2") as again:
                got = [(await again.__anext__()).cursor for _ in range(10)]
            assert got == list(range(2, 12))
            assert len(upstream.opens) == 1


async def test_refcount_open_close_with_linger(upstream: FakeUpstream, autojump_clock: Any) -> None:
    with trio.fail_after(60):
        async with open_stream_hub(**hub_kwargs(upstream, linger_s=5.0)) as hub:
            async with hub.candles("NSE:INFY", "minute", subscriber="a"):
                async with hub.candles("NSE:INFY", "minute", subscriber="b"):
                    await trio.sleep(0.01)
                    assert upstream.connections == 1
                    assert hub.statistics().topics[0].subscribers == 2
                t_left = trio.current_time()
                await trio.sleep(0.01)
                assert upstream.connections == 1 and upstream.closed == 0
            await trio.sleep(4.9)
            assert upstream.connections == 1
            # rejoin inside the linger keeps the same connection
            async with hub.candles("NSE:INFY", "minute", subscriber="c"):
                await trio.sleep(10)
                assert upstream.connections == 1 and len(upstream.opens) == 1
            t_empty = trio.current_time()
            await trio.sleep(4.9)
            assert upstream.connections == 1
            await trio.sleep(0.2)
            assert upstream.connections == 0 and upstream.closed == 1
            assert hub.statistics().topics == () and t_left < t_empty


async def test_candles_conflate_in_progress_never_complete(
    upstream: FakeUpstream, autojump_clock: Any
) -> None:
    def candle(ts: str, close: float, done: bool) -> dict[str, Any]:
        return {"symbol": "INFY", "instrument_token": 1, "interval": "minute",
                "candle": {"ts": ts, "close": close, "is_complete": done}}  # fmt: skip

    with trio.fail_after(30):
        hub = StreamHub(**hub_kwargs(upstream))
        async with trio.open_nursery() as n:
            await n.start(hub.serve)
            async with hub.candles("INFY", "minute", subscriber="a") as candles:
                await trio.sleep(0.01)
                for payload in (candle("t1", 1, False), candle("t1", 2, False), candle("t1", 3, True),
                                candle("t2", 4, False), candle("t2", 5, False)):  # fmt: skip
                    upstream.emit("candles", "INFY", payload)
                await trio.sleep(0.01)
                got = [await candles.__anext__() for _ in range(3)]
                assert [(c.close, c.is_complete) for c in got] == [(2, False), (3, True), (5, False)]
                assert hub.statistics().subscribers[0].conflations == 2
            n.cancel_scope.cancel()
