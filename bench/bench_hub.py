"""Hub benchmarks (on demand, never in the default test run): ``python bench/bench_hub.py``.

1. Decoder: our sans-IO ``SSEDecoder`` + ``interpret`` (fed 4 kB chunks) against the official
   SDK 0.7.4's parser, driven through its real ``_stream_sse`` over a ``requests.Response``
   reading the same bytes from memory (so ``iter_lines`` is requests' own, as on a socket).
2. Fan-out on a real sandbox: a standalone ``kite-supervisor sandbox --tick-interval T`` in its
   own process, this process the client. ``--strategies`` (1,000) strategy tasks each subscribe
   through one ``StreamHub`` (one client) to ``--per-strategy`` (10) of ``--instruments`` (200)
   instruments and take every tick as a typed ``Tick``. Baseline, in the same run: a sample of
   ``--baseline-sample`` strategies, each with its own client and its own SSE stream of its
   instruments, decoding every tick into a ``Tick`` itself (what one stream per strategy costs;
   per-tick figures are measured on the sample, totals for all strategies are extrapolated and
   say so). Figures: delivered ticks per second, CPU of this process per delivered tick (the
   ratio is the goal: at least 10x cheaper through the hub), sandbox CPU per delivered tick,
   p50/p99 delay from the tick's ``exchange_timestamp`` (corrected for the sandbox clock's
   offset, see ``_loopback``) to the strategy taking it, upstream connections.
3. Transports, in the same run: the hub's fan-out (``async for``) once more with its upstream
   streams over the §5.6 WebSockets (``transport="websocket"``) instead of SSE; the ratios
   WebSocket / SSE of the CPU per delivered tick (this process and the sandbox) and of the delays.

The instruments are whatever the sandbox's tick stream serves (``_loopback.discover``); when it
serves fewer than ``--instruments``, the rest are other spellings of them
(``_loopback.spellings``: the wire, the topics and the fan-out are those of N instruments), and
the output says so.

The sandbox ticks every instrument at once per market step, so each step is one burst of
``strategies x per-strategy`` deliveries. ``--feeds K`` spreads it as a real feed would,
without a sandbox option for it: K sandbox processes (same universe, each with its own step
phase, as started), the hub's instruments in K unions (``max_union_instruments``) each streamed
from its own sandbox, the baseline's strategies spread over them alike; so K bursts of 1/K
each per step, at the sandboxes' (uncontrolled) phases, and K upstream connections.
``--tick-phases K`` does it inside one sandbox (``kite-supervisor sandbox --tick-phases K``):
instrument token mod K picks each instrument's phase, ``T/K`` apart, and each union stream
gets one event per phase holding that phase's instruments; one upstream connection.
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import requests
import trio

if __package__ in (None, ""):  # run as a script (``tasks.py bench``): import bench as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._loopback import (
    TOKEN,
    Stamps,
    clock_skew,
    cpu_seconds,
    discover,
    spellings,
    start_sandboxes,
    step_phase,
)
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.client._sse import SSEDecoder, SSEMessage, encode_sse, interpret
from supervisor.hub import HubTransport, Opener, Tick, client_opener, open_stream_hub, ws_opener
from supervisor.hub._models import decode_ticks

N_INSTR = 200  # distinct instruments in the decoder's bytes


def tick_payload(token: int, price: float) -> dict[str, Any]:
    return {
        "ticks": [
            {"instrument_token": token, "tradingsymbol": f"S{token}", "last_price": price,
             "volume": 1000, "exchange_timestamp": "2026-11-24T10:00:00+00:00",
             "ohlc": {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}, "mode": "quote"}
        ]
    }  # fmt: skip


def sse_bytes(n: int) -> bytes:
    parts = [encode_sse(msgspec.json.encode(tick_payload(i % N_INSTR, 100.0 + i)).decode(), "ticks")
             for i in range(n)]  # fmt: skip
    return b"".join(parts)


def bench_decoder(data: bytes) -> tuple[float, float, float]:
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    t = time.process_time()
    dec, n_ours = SSEDecoder(), 0
    for c in chunks:
        for m in dec.feed(c):
            if isinstance(m, SSEMessage) and interpret(m, route="/x") is not None:
                n_ours += 1
    ours = time.process_time() - t

    # typed fast path: SSE framing by our decoder, JSON straight into Tick structs (no dicts)
    class _Batch(msgspec.Struct):
        ticks: list[Tick] = []

    typed = msgspec.json.Decoder(_Batch)
    t = time.process_time()
    dec, n_typed = SSEDecoder(), 0
    for c in chunks:
        for m in dec.feed(c):
            if isinstance(m, SSEMessage):
                typed.decode(m.data)
                n_typed += 1
    ours_typed = time.process_time() - t

    from kite_algo_worker import AlgoWorkerConfig as SdkConfig
    from kite_algo_worker.client import KiteAlgoWorkerClient as SdkClient

    class _Session:  # the SDK's real path: a requests Response over the same bytes
        def request(self, *a: Any, **k: Any) -> requests.Response:
            response = requests.Response()
            response.status_code = 200
            response.encoding = "utf-8"
            response.raw = io.BytesIO(data)
            return response

    sdk = SdkClient(SdkConfig(base_url="http://127.0.0.1:1", token="kwa_" + "b" * 43))
    sdk.session = _Session()
    t = time.process_time()
    n_sdk = sum(1 for _ in sdk._stream_sse("GET", "/x"))
    theirs = time.process_time() - t
    assert n_ours == n_sdk == n_typed, (n_ours, n_sdk, n_typed)
    return ours, ours_typed, theirs


class Meter:
    """Delivered ticks and emit -> strategy delays, counted only while ``on``. A take records
    the monotonic time, the stamp and (several feeds) the feed; delays are worked out after the
    window, so the strategies pay little more than a strategy's own clock read."""

    def __init__(
        self, stamps: list[Stamps], strategies: int, feed: Callable[[int, Tick], int] | None = None
    ) -> None:
        self.stamps = stamps  # per feed (sandbox): each has its own clock offset
        self.feed = feed if len(stamps) > 1 else None  # which feed a strategy's tick came from
        self.on = False
        self.delivered = 0
        self.arrived: list[float] = []
        self.stamped: list[str] = []
        self.feeds: list[int] = []
        self.started: set[int] = set()  # strategies that got their first tick
        self.strategies = strategies
        self.all_started = trio.Event()

    def take(self, strategy: int, tick: Tick) -> None:
        if not self.on:
            self.started.add(strategy)
            if len(self.started) == self.strategies:
                self.all_started.set()
            return
        self.delivered += 1
        if tick.exchange_timestamp:
            self.arrived.append(time.monotonic())
            self.stamped.append(tick.exchange_timestamp)
            if self.feed is not None:
                self.feeds.append(self.feed(strategy, tick))

    def delays(self) -> list[float]:
        feeds = self.feeds or [0] * len(self.arrived)
        return sorted(
            self.stamps[f].at(t) - self.stamps[f].emitted(s)
            for t, s, f in zip(self.arrived, self.stamped, feeds, strict=True)
        )


class StreamCounter(httpx.AsyncBaseTransport):
    """A loopback transport (no pool cap) counting tick-stream requests: upstream connections."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=None))
        self.tick_streams = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.tick_streams += request.url.path.endswith("/market/ticks/stream")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True)
class Setup:
    """One fan-out run: the sandbox(es), the measurement window, the stamp clock, GC handling."""

    base_urls: list[str]
    pids: list[int]
    seconds: float
    stamps: list[Stamps]
    freeze: bool

    def server_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)


def spread_opener(
    clients: list[AsyncKiteAlgoWorkerClient], per_union: int, feed_of: dict[str, int], transport: HubTransport
) -> Opener:
    """Each union's stream from its own sandbox: a union's instruments are new to the opener
    when it first opens (unions fill in order), so the count of instruments seen before tells
    which union, hence which sandbox; later opens follow their first instrument. ``feed_of``
    records the sandbox of each instrument."""
    openers = [(ws_opener if transport == "websocket" else client_opener)(c) for c in clients]

    def open_(kind: str, params: dict[str, Any], after: int | None) -> AbstractAsyncContextManager[Any]:
        names = [str(i) for i in params["instruments"]]
        feed = feed_of.get(names[0])
        if feed is None:
            feed = len(feed_of) // per_union % len(clients)
            for name in names:
                feed_of.setdefault(name, feed)
        return openers[feed](kind, params, after)

    return open_


async def _window(meter: Meter, setup: Setup) -> dict[str, float]:
    """Wait until every strategy has ticks, warm up, then measure ``seconds``."""
    with trio.fail_after(120):
        await meter.all_started.wait()
    await trio.sleep(1.0)
    if setup.freeze:  # what a daemon that freezes its start-up objects would see (gc.freeze)
        gc.collect()
        gc.freeze()
        # the full collection stalls this process (tens of ms at 1,000 strategies): the ticks
        # stamped meanwhile would be measured late, so let that backlog drain first
        await trio.sleep(0.5)
    cpu0, srv0, t0 = time.process_time(), setup.server_cpu(), time.monotonic()
    meter.on = True
    await trio.sleep(setup.seconds)
    meter.on = False
    wall = time.monotonic() - t0
    gc.unfreeze()
    cpu, srv = time.process_time() - cpu0, setup.server_cpu() - srv0
    delays = meter.delays() or [float("nan")]
    ticks = max(meter.delivered, 1)
    return {
        "ticks_per_s": meter.delivered / wall,
        "cpu_us": 1e6 * cpu / ticks,
        "server_us": 1e6 * srv / ticks,
        "cpu_pct": 100 * cpu / wall,
        "server_pct": 100 * srv / wall,
        "p50_ms": 1e3 * delays[len(delays) // 2],
        "p99_ms": 1e3 * delays[int(0.99 * (len(delays) - 1))],
    }


async def bench_hub(
    setup: Setup, picks: list[list[str]], n_instruments: int, *, batch: bool, transport: HubTransport = "sse"
) -> dict[str, float]:
    feed_of: dict[str, int] = {}
    meter = Meter(setup.stamps, len(picks), lambda i, tick: feed_of.get(tick.symbol or "", 0))
    counters = [StreamCounter() for _ in setup.base_urls]
    feeds = len(setup.base_urls)
    per_union = -(-n_instruments // feeds)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                AsyncKiteAlgoWorkerClient(AlgoWorkerConfig(url, TOKEN), transport=counter, environ={})
            )
            for url, counter in zip(setup.base_urls, counters, strict=True)
        ]
        opener = spread_opener(clients, per_union, feed_of, transport) if feeds > 1 else None
        hub = await stack.enter_async_context(
            open_stream_hub(
                clients[0], opener=opener, transport=transport, capacity=64, max_union_instruments=per_union
            )
        )
        nursery = await stack.enter_async_context(trio.open_nursery())

        async def strategy(i: int, instruments: list[str]) -> None:
            async with hub.ticks(instruments, subscriber=f"s{i}") as ticks:
                if batch:  # one wake-up per burst, like a stream's one payload per event
                    while True:
                        for item in await ticks.receive_batch():
                            if isinstance(item, Tick):
                                meter.take(i, item)
                async for item in ticks:
                    if isinstance(item, Tick):
                        meter.take(i, item)

        for i, pick in enumerate(picks):
            nursery.start_soon(strategy, i, pick)
        result = await _window(meter, setup)
        stats = hub.statistics()
        result["upstream_streams"] = stats.upstream_streams
        result["tick_stream_opens"] = sum(c.tick_streams for c in counters)
        result["conflations"] = sum(s.conflations for s in stats.subscribers)
        result["topics"] = len(stats.topics)
        nursery.cancel_scope.cancel()
    return result


async def bench_baseline(setup: Setup, picks: list[list[str]]) -> dict[str, float]:
    meter = Meter(setup.stamps, len(picks), lambda i, tick: i % len(setup.base_urls))
    async with trio.open_nursery() as nursery:

        async def strategy(i: int, instruments: list[str]) -> None:
            config = AlgoWorkerConfig(setup.base_urls[i % len(setup.base_urls)], TOKEN)
            async with (
                AsyncKiteAlgoWorkerClient(config, environ={}) as client,
                client.stream_ticks(instruments) as events,
            ):
                async for payload in events:
                    for item, _ in decode_ticks(payload):
                        meter.take(i, item)

        for i, pick in enumerate(picks):
            nursery.start_soon(strategy, i, pick)
        result = await _window(meter, setup)
        nursery.cancel_scope.cancel()
    return result


async def bench_fanout(args: argparse.Namespace, base_urls: list[str], pids: list[int]) -> None:
    stamps = Stamps()
    skews: list[float] = []
    phases: list[float] = []
    served: list[str] = []
    for url in base_urls:
        async with AsyncKiteAlgoWorkerClient(AlgoWorkerConfig(url, TOKEN), environ={}) as client:
            skews.append(await clock_skew(client, stamps.now))
            here = await discover(client)  # option contracts depend on each sandbox's spot
            served = here if len(skews) == 1 else [x for x in served if x in set(here)]
            phases.append(await step_phase(client, served[0], args.tick_interval) - skews[-1])
    skew = skews[0]  # one sandbox: about 0 since the clock fix; more: their start-ups' drift
    instruments = spellings(served, args.instruments)
    per = min(args.per_strategy, len(instruments))
    rng = random.Random(7)
    picks = [rng.sample(instruments, per) for _ in range(args.strategies)]
    offered = len(instruments) / args.tick_interval
    print(f"fan-out: sandbox serves {len(served)} ticking instruments; {args.strategies} strategies x "
          f"{per} of {len(instruments)} instruments (asked: {args.per_strategy} of {args.instruments}); "
          f"market step {args.tick_interval * 1e3:g} ms -> {offered:.0f} ticks/s upstream; "
          f"{args.seconds:g} s windows; sandbox clock offset {skew * 1e3:+.2f} ms removed")  # fmt: skip
    if args.tick_phases > 1:
        print(f"  sandbox --tick-phases {args.tick_phases}: each step's ticks in {args.tick_phases} phases "
              f"{args.tick_interval / args.tick_phases * 1e3:g} ms apart (instrument token mod "
              f"{args.tick_phases}), one event per phase on each stream")  # fmt: skip
    if len(base_urls) > 1:
        print(f"  {len(base_urls)} feeds (sandbox processes), clock offsets "
              f"{', '.join(f'{x * 1e3:+.2f}' for x in skews)} ms (each removed from its ticks); one union of "
              f"{-(-len(instruments) // len(base_urls))} instruments on each; their steps at "
              f"{', '.join(f'{x % args.tick_interval * 1e3:.0f}' for x in sorted(phases))} ms "
              f"into each {args.tick_interval * 1e3:g} ms")  # fmt: skip
    if len(served) < len(instruments):
        subs = args.strategies * per / len(instruments)
        print(f"  ({len(instruments)} instruments emulated by {len(instruments)} spellings of the "
              f"{len(served)} served; ~{subs:.0f} subscribers per topic)")  # fmt: skip
    setup = Setup(base_urls, pids, args.seconds, [stamps.with_skew(x) for x in skews], args.gc_freeze)
    hub = await bench_hub(setup, picks, len(instruments), batch=False)
    hub_batch = await bench_hub(setup, picks, len(instruments), batch=True)
    hub_ws = await bench_hub(setup, picks, len(instruments), batch=False, transport="websocket")
    sample = picks[: args.baseline_sample]
    base = await bench_baseline(setup, sample)
    scale = args.strategies / len(sample)
    print(f"  {'':<34} {'ticks/s':>9} {'CPU us/tick':>12} {'sandbox us/tick':>16} {'CPU %':>6} "
          f"{'sandbox %':>10} {'p50 ms':>7} {'p99 ms':>7} {'upstream':>9}")  # fmt: skip
    for label, r in ((f"hub, {args.strategies} strategies, async for", hub),
                     (f"hub, {args.strategies}, receive_batch", hub_batch),
                     (f"hub, {args.strategies}, WebSocket, async for", hub_ws)):  # fmt: skip
        print(f"  {label:<34} {r['ticks_per_s']:>9.0f} {r['cpu_us']:>12.2f} {r['server_us']:>16.2f} "
              f"{r['cpu_pct']:>6.0f} {r['server_pct']:>10.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
              f"{r['upstream_streams']:>9.0f}")  # fmt: skip
    print(f"  {'own stream each, ' + str(len(sample)) + ' measured':<34} {base['ticks_per_s']:>9.0f} "
          f"{base['cpu_us']:>12.2f} {base['server_us']:>16.2f} {base['cpu_pct']:>6.0f} "
          f"{base['server_pct']:>10.0f} {base['p50_ms']:>7.2f} {base['p99_ms']:>7.2f} "
          f"{len(sample):>9}")  # fmt: skip
    print(f"  {'  extrapolated to ' + str(args.strategies):<34} {base['ticks_per_s'] * scale:>9.0f} "
          f"{'':>12} {'':>16} {base['cpu_pct'] * scale:>6.0f} {base['server_pct'] * scale:>10.0f} "
          f"{'':>7} {'':>7} {args.strategies:>9}")  # fmt: skip
    print(f"  CPU per delivered tick, baseline / hub: {base['cpu_us'] / hub['cpu_us']:.1f}x with async for, "
          f"{base['cpu_us'] / hub_batch['cpu_us']:.1f}x with receive_batch (goal >= 10x); sandbox CPU "
          f"per delivered tick {base['server_us'] / hub['server_us']:.0f}x less; hub p99 "
          f"{hub['p99_ms']:.1f} / {hub_batch['p99_ms']:.1f} ms (goal <= 10 ms)")  # fmt: skip
    print(f"  transports, WebSocket / SSE (hub, async for): CPU per delivered tick "
          f"{hub_ws['cpu_us'] / hub['cpu_us']:.2f}x, sandbox CPU per delivered tick "
          f"{hub_ws['server_us'] / hub['server_us']:.2f}x, p50 {hub_ws['p50_ms'] / hub['p50_ms']:.2f}x, "
          f"p99 {hub_ws['p99_ms'] / hub['p99_ms']:.2f}x; delivered ticks/s "
          f"{hub_ws['ticks_per_s'] / hub['ticks_per_s']:.2f}x")  # fmt: skip
    print(f"  wall clock against the monotonic clock over the run: {stamps.wall_drift() * 100:+.2f} % "
          "(delays are measured on a monotonic clock, as the sandbox stamps)")  # fmt: skip
    print(f"  hub: {hub['topics']:.0f} topics on {hub['upstream_streams']:.0f} upstream stream(s) "
          f"({hub['tick_stream_opens']:.0f} opened in all); {hub['conflations']:.0f} ticks conflated "
          "in subscriber buffers")  # fmt: skip


def start_phased_sandbox(tick_interval: float, phases: int) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "supervisor", "--log-level", "WARNING", "sandbox", "--port", "0",
           "--token", TOKEN, "--tick-interval", str(tick_interval), "--tick-phases", str(phases)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description="hub benchmarks: decoder, fan-out on a sandbox")
    parser.add_argument("--strategies", type=int, default=1000)
    parser.add_argument("--per-strategy", type=int, default=10)
    parser.add_argument("--instruments", type=int, default=200)
    parser.add_argument("--tick-interval", type=float, default=0.1, help="sandbox market step (s)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--baseline-sample", type=int, default=50)
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() before each window")
    parser.add_argument("--feeds", type=int, default=1, help="sandboxes spreading each step's ticks")
    parser.add_argument("--tick-phases", type=int, default=1, help="the sandbox's phases per market step")
    args, _ = parser.parse_known_args()  # tasks.py passes its extra arguments to every bench
    data = sse_bytes(20_000)
    ours, typed, theirs = bench_decoder(data)
    print(f"decoder on {len(data)} bytes: SDK {theirs * 1e3:.1f} ms; ours to dicts {ours * 1e3:.1f} ms "
          f"({theirs / ours:.2f}x); ours typed {typed * 1e3:.1f} ms ({theirs / typed:.2f}x)")  # fmt: skip
    if args.tick_phases > 1:
        if args.feeds > 1:
            parser.error("--tick-phases spreads the step in one sandbox: not with --feeds")
        sandboxes = [start_phased_sandbox(args.tick_interval, args.tick_phases)]
    else:
        sandboxes = start_sandboxes(args.feeds, args.tick_interval)
    try:
        trio.run(bench_fanout, args, [url for _, url in sandboxes], [p.pid for p, _ in sandboxes])
    finally:
        for proc, _ in sandboxes:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
