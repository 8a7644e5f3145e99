"""Tick topics of one mode share one union stream, resubscribed make-before-break (in-memory
upstream, virtual time); and the pure router that sends a union's ticks to their topics."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from supervisor.client import NotFoundError
from supervisor.client._backoff import Backoff
from supervisor.client._errors import StreamDisconnectedError
from supervisor.hub import StreamResumed, Tick, open_stream_hub
from supervisor.hub._union import TickRouter

from .conftest import FakeUpstream, tick


def hub_kwargs(upstream: FakeUpstream, **kw: Any) -> dict[str, Any]:
    return {"opener": upstream.open, "backoff": lambda: Backoff(initial=1.0, maximum=4.0, jitter=0.0), **kw}


async def test_one_stream_per_mode_for_any_number_of_instruments(
    upstream: FakeUpstream, autojump_clock: Any
) -> None:
    with trio.fail_after(30):
        async with open_stream_hub(**hub_kwargs(upstream)) as hub:
            got: dict[int, list[int]] = {}

            async def strategy(i: int, ready: trio.Event) -> None:
                mine = [i % 20, (i + 1) % 20]
                async with hub.ticks(mine, subscriber=f"s{i}") as ticks:
                    ready.set()
                    got[i] = []
                    async for t in ticks:
                        assert isinstance(t, Tick) and t.instrument_token in mine
                        got[i].append(t.instrument_token)
                        if len(got[i]) == 2:
                            return

            async with trio.open_nursery() as n:
                for i in range(50):  # joined in one burst: coalesced into one open
                    ready = trio.Event()
                    n.start_soon(strategy, i, ready)
                    await ready.wait()
                await trio.sleep(0.1)
                assert len(upstream.opens) == 1
                (instruments,) = upstream.tick_streams()
                assert sorted(instruments) == list(range(20))
                assert hub.statistics().upstream_streams == 1
                upstream.emit("ticks", 0, {"ticks": [tick(k, float(k)) for k in range(20)]})
            assert all(sorted(v) == sorted([i % 20, (i + 1) % 20]) for i, v in got.items())
            assert len(got) == 50 and len(hub.statistics().topics) == 20


async def test_resubscription_is_make_before_break(upstream: FakeUpstream, autojump_clock: Any) -> None:
    upstream.auto_snapshot = False
    with trio.fail_after(60):
        async with (
            open_stream_hub(**hub_kwargs(upstream, linger_s=5.0)) as hub,
            hub.ticks([1, 2], subscriber="a") as a,
        ):
            await trio.sleep(0.1)
            upstream.emit_to((1, 2), {"quotes": {"1": tick(1, 10.0), "2": tick(2, 20.0)}, "missing": []})
            assert [(await a.__anext__()).last_price for _ in range(2)] == [10.0, 20.0]
            async with hub.ticks([3], subscriber="b") as b:
                await trio.sleep(0.1)
                # the new union is open, the old one still serves until the new one's snapshot
                assert upstream.tick_streams() == [(1, 2), (1, 2, 3)]
                assert hub.statistics().upstream_streams == 2
                upstream.emit_to((1, 2), {"ticks": [tick(1, 11.0)]})
                assert (await a.__anext__()).last_price == 11.0
                snapshot = {"1": tick(1, 11.0), "2": tick(2, 20.0), "3": tick(3, 30.0)}
                upstream.emit_to((1, 2, 3), {"quotes": snapshot, "missing": []})
                assert (await b.__anext__()).last_price == 30.0
                await trio.sleep(0.01)
                assert upstream.tick_streams() == [(1, 2, 3)] and upstream.closed == 1
                assert len(a.buffer) == 0  # 1 and 2 were flowing: their snapshot rows are not repeated
                upstream.emit_to((1, 2, 3), {"ticks": [tick(1, 12.0), tick(3, 31.0)]})
                assert (await a.__anext__()).last_price == 12.0
                assert (await b.__anext__()).last_price == 31.0
                assert all(t.connected for t in hub.statistics().topics)
            # b left: after the linger its instrument is dropped from the union
            await trio.sleep(5.2)
            assert upstream.tick_streams() == [(1, 2, 3), (1, 2)]
            upstream.emit_to((1, 2), {"quotes": {"1": tick(1, 12.0)}, "missing": []})
            await trio.sleep(0.01)
            assert upstream.tick_streams() == [(1, 2)] and len(a.buffer) == 0


async def test_receive_batch_takes_a_burst_with_one_wake_up(
    upstream: FakeUpstream, autojump_clock: Any
) -> None:
    with trio.fail_after(30):
        async with (
            open_stream_hub(**hub_kwargs(upstream)) as hub,
            hub.ticks([1, 2, 3], subscriber="a") as a,
        ):
            await trio.sleep(0.1)
            upstream.emit("ticks", 1, {"ticks": [tick(k, float(k)) for k in (1, 2, 3)]})
            upstream.emit("ticks", 1, {"ticks": [tick(1, 4.0)]})  # conflated into 1's queued tick
            await trio.sleep(0.5)
            batch = await a.receive_batch()
            assert [(t.instrument_token, t.last_price) for t in batch] == [(1, 4.0), (2, 2.0), (3, 3.0)]
            (stats,) = hub.statistics().subscribers
            assert stats.delivered == 3 and stats.conflations == 1
            assert stats.latency_max_s == pytest.approx(0.5, abs=0.01)
            async with trio.open_nursery() as n:  # blocks until the next tick
                n.start_soon(a.receive_batch)
                await trio.sleep(1)
                upstream.emit("ticks", 2, {"ticks": [tick(2, 5.0)]})
            assert hub.statistics().subscribers[0].delivered == 4


async def test_union_ends_with_its_last_instrument(upstream: FakeUpstream, autojump_clock: Any) -> None:
    with trio.fail_after(30):
        async with open_stream_hub(**hub_kwargs(upstream, linger_s=1.0)) as hub:
            async with hub.ticks([1], subscriber="a"), hub.ticks([1], mode="ltp", subscriber="b"):
                await trio.sleep(0.1)
                assert len(upstream.tick_streams()) == 2  # one per mode
            await trio.sleep(1.2)
            assert upstream.tick_streams() == [] and upstream.closed == 2
            stats = hub.statistics()
            assert stats.topics == () and stats.upstream_streams == 0
            async with hub.ticks([5], subscriber="c") as c:  # a later subscriber starts a new union
                await trio.sleep(0.1)
                upstream.emit("ticks", 5, {"ticks": [tick(5, 5.0)]})
                assert (await c.__anext__()).last_price == 5.0


async def test_unknown_instrument_fails_only_its_subscribers(
    upstream: FakeUpstream, autojump_clock: Any
) -> None:
    upstream.auto_snapshot = False
    with trio.fail_after(30):
        async with (
            open_stream_hub(**hub_kwargs(upstream)) as hub,
            hub.ticks(["NSE:NOPE"], subscriber="bad") as bad,
            hub.ticks([1], subscriber="good") as good,
        ):
            await trio.sleep(0.1)
            upstream.emit("ticks", 1, {"quotes": {"1": tick(1, 1.0)}, "missing": ["NSE:NOPE"]})
            with pytest.raises(NotFoundError):
                await bad.__anext__()
            assert (await good.__anext__()).last_price == 1.0
            # a bad quote is counted, not fatal; one instrument twice in a batch: the last one
            upstream.emit("ticks", 1, {"ticks": [tick(1, 2.0), {"instrument_token": 1, "last_price": "x"},
                                                 tick(1, 3.0)]})  # fmt: skip
            assert (await good.__anext__()).last_price == 3.0
            upstream.emit("ticks", 1, {"ticks": [{"instrument_token": 1, "last_price": "x"}]})
            await trio.sleep(0.01)
            assert len(good.buffer) == 0
            stats = hub.statistics()
            by_key = {t.key: t for t in stats.topics}
            assert "NSE:NOPE|quote" not in by_key  # forgotten: a later subscriber asks again
            assert stats.failures == {"ticks": 1}
            assert by_key["1|quote"].connected and by_key["1|quote"].decode_errors == 1
            await trio.sleep(0.1)  # the union resubscribes without the failed instrument
            assert upstream.opens[-1][1]["instruments"] == [1]


def test_router_matches_every_spelling_of_an_instrument() -> None:
    router = TickRouter(["nse:infy", 408065, "NSE:TCS", "2953217", "NFO:NIFTY24DEC24000CE"])
    infy = {"instrument_token": 408065, "symbol": "NSE:INFY", "tradingsymbol": "INFY"}
    assert set(router.route(infy)) == {"nse:infy", 408065}
    assert set(router.route(infy)) == {"nse:infy", 408065}  # from the per-token memo
    tcs = {"instrument_token": 2953217, "exchange": "NSE", "tradingsymbol": "TCS"}
    assert set(router.route(tcs)) == {"NSE:TCS", "2953217"}
    option = {"tradingsymbol": "NIFTY24DEC24000CE", "exchange": "NFO"}
    assert router.route(option) == ("NFO:NIFTY24DEC24000CE",)
    assert router.route({"instrument_token": 1, "symbol": "NSE:SBIN"}) == ()
    assert router.missing({"missing": ["NSE:TCS ", "NSE:OTHER"]}) == ("NSE:TCS",)


async def test_a_full_union_spills_into_another(upstream: FakeUpstream, autojump_clock: Any) -> None:
    # each union's request line stays bounded: here 2 instruments a stream
    with trio.fail_after(30):
        async with (
            open_stream_hub(**hub_kwargs(upstream, max_union_instruments=2, linger_s=1.0)) as hub,
            hub.ticks([1, 2, 3], subscriber="a") as a,
        ):
            async with hub.ticks([4, 5], subscriber="b") as b:
                await trio.sleep(0.1)
                assert sorted(map(len, upstream.tick_streams())) == [1, 2, 2]
                assert hub.statistics().upstream_streams == 3
                for k in (1, 5):
                    upstream.emit("ticks", k, {"ticks": [tick(k, float(k))]})
                assert (await a.__anext__()).last_price == 1.0
                assert (await b.__anext__()).last_price == 5.0
            await trio.sleep(1.2)  # b's instruments leave their unions after the linger
            assert sorted(i for s in upstream.tick_streams() for i in s) == [1, 2, 3]


async def test_a_dropped_union_resumes_every_instrument_on_it(
    upstream: FakeUpstream, autojump_clock: Any
) -> None:
    with trio.fail_after(30):
        async with open_stream_hub(**hub_kwargs(upstream)) as hub, hub.ticks([1, 2], subscriber="a") as a:
            await trio.sleep(0.1)
            upstream.emit("ticks", 1, {"ticks": [tick(1, 1.0), tick(2, 2.0)]})
            assert [(await a.__anext__()).last_price for _ in range(2)] == [1.0, 2.0]
            upstream.emit("ticks", 1, StreamDisconnectedError("dropped"))
            await trio.sleep(0.5)
            assert not any(t.connected for t in hub.statistics().topics)
            markers = [await a.__anext__() for _ in range(2)]  # after the 1 s backoff
            assert {(m.kind, m.key) for m in markers} == {("ticks", "1|quote"), ("ticks", "2|quote")}
            assert all(
                isinstance(m, StreamResumed) and m.gap_s == pytest.approx(1.0, abs=0.05) for m in markers
            )
            assert len(upstream.opens) == 2
            assert all(t.connected and t.reconnects == 1 for t in hub.statistics().topics)
