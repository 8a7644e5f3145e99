"""Hub benchmarks (on demand, never in the default test run): ``python -m bench.bench_hub``.

1. Decoder: our sans-IO ``SSEDecoder`` + ``interpret`` against the official SDK 0.7.4's line
   parser (driven through its real ``_stream_sse`` with an in-memory response) on the same bytes.
2. Fan-out (in-process, in-memory opener: no sockets): 1,000 subscribers each to 10 of 200
   instruments. Hub: each tick's SSE bytes are decoded once per topic and fanned out to buffers.
   Baseline: every subscriber owns a stream of its 10 instruments and decodes every byte itself
   (what one SSE stream per strategy costs on the client side). CPU per delivered tick, ratio,
   p99 fan-out->subscriber delay (virtual: trio clock of this run), upstream connection count.
   The sandbox-over-loopback version of (2) is not written yet.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from supervisor.client._sse import SSEDecoder, SSEMessage, encode_sse, interpret
from supervisor.hub import StreamHub, Tick
from supervisor.hub._models import decode_ticks

N_INSTR, N_SUBS, PER_SUB, ROUNDS = 200, 1000, 10, 20


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

    class _Resp:
        status_code = 200

        def iter_lines(self, decode_unicode: bool = False) -> Any:
            return iter(data.decode().splitlines())

        def close(self) -> None:
            pass

    class _Session:
        def request(self, *a: Any, **k: Any) -> _Resp:
            return _Resp()

    sdk = SdkClient(SdkConfig(base_url="http://127.0.0.1:1", token="kwa_" + "b" * 43))
    sdk.session = _Session()
    t = time.process_time()
    n_sdk = sum(1 for _ in sdk._stream_sse("GET", "/x"))
    theirs = time.process_time() - t
    assert n_ours == n_sdk == n_typed, (n_ours, n_sdk, n_typed)
    return ours, ours_typed, theirs


async def bench_fanout() -> dict[str, float]:
    rng = random.Random(7)
    chans: dict[int, trio.MemorySendChannel[bytes]] = {}

    @asynccontextmanager
    async def opener(kind: str, params: dict[str, Any], after: int | None) -> AsyncIterator[Any]:
        send, recv = trio.open_memory_channel[bytes](100_000)
        chans[int(params["instrument"])] = send

        async def events() -> AsyncIterator[Any]:
            dec = SSEDecoder()
            async for chunk in recv:
                for m in dec.feed(chunk):
                    if isinstance(m, SSEMessage) and (r := interpret(m, route="/t")) is not None:
                        yield r.payload

        yield events()

    hub = StreamHub(opener=opener, capacity=64)
    subs_instr = [rng.sample(range(N_INSTR), PER_SUB) for _ in range(N_SUBS)]
    delays: list[float] = []
    delivered = 0
    frames = {
        i: encode_sse(msgspec.json.encode(tick_payload(i, 1.0)).decode(), "ticks") for i in range(N_INSTR)
    }
    async with trio.open_nursery() as n:
        await n.start(hub.serve)
        done = trio.Event()

        async def strategy(instr: list[int], ready: trio.Event) -> None:
            nonlocal delivered
            async with hub.ticks(instr, subscriber="s") as ticks:
                ready.set()
                async for t in ticks:
                    assert isinstance(t, Tick)
                    delivered += 1
                    if done.is_set():
                        return

        for instr in subs_instr:
            ready = trio.Event()
            n.start_soon(strategy, instr, ready)
            await ready.wait()
        await trio.sleep(0.01)
        connections = len(chans)
        t = time.process_time()
        for _ in range(ROUNDS):
            for i in range(N_INSTR):
                chans[i].send_nowait(frames[i])
            await trio.sleep(0.001)
        hub_cpu = time.process_time() - t
        stats = hub.statistics()
        delays = [s.latency_max_s for s in stats.subscribers]
        done.set()
        n.cancel_scope.cancel()
    hub_delivered = delivered

    # baseline: each subscriber decodes its own stream (only the ticks of its instruments)
    t = time.process_time()
    base_delivered = 0
    for instr in subs_instr:
        dec = SSEDecoder()
        for _ in range(ROUNDS):
            for i in instr:
                for m in dec.feed(frames[i]):
                    if isinstance(m, SSEMessage) and (r := interpret(m, route="/t")) is not None:
                        base_delivered += len(decode_ticks(r.payload))
    base_cpu = time.process_time() - t
    delays.sort()
    return {
        "connections": connections,
        "hub_delivered": hub_delivered,
        "hub_cpu_us_per_tick": 1e6 * hub_cpu / max(hub_delivered, 1),
        "base_cpu_us_per_tick": 1e6 * base_cpu / max(base_delivered, 1),
        "hub_ticks_per_cpu_s": hub_delivered / hub_cpu,
        "p99_max_delay_ms": 1e3 * delays[int(0.99 * (len(delays) - 1))],
        "baseline_connections": N_SUBS,
    }


def main() -> None:
    data = sse_bytes(20_000)
    ours, typed, theirs = bench_decoder(data)
    print(f"decoder on {len(data)} bytes: SDK {theirs * 1e3:.1f} ms; ours to dicts {ours * 1e3:.1f} ms "
          f"({theirs / ours:.2f}x); ours typed {typed * 1e3:.1f} ms ({theirs / typed:.2f}x)")  # fmt: skip
    r = trio.run(bench_fanout)
    print(f"fan-out: {N_SUBS} subscribers x {PER_SUB} of {N_INSTR} instruments, {ROUNDS} rounds")
    print(f"  upstream connections: hub {r['connections']:.0f} vs baseline {r['baseline_connections']:.0f}")
    print(f"  delivered ticks: {r['hub_delivered']:.0f} ({r['hub_ticks_per_cpu_s']:.0f} per CPU-second)")
    hub_us, base_us = r["hub_cpu_us_per_tick"], r["base_cpu_us_per_tick"]
    print(
        f"  CPU per delivered tick: hub {hub_us:.2f} us vs baseline {base_us:.2f} us"
        f" -> {base_us / hub_us:.1f}x"
    )
    print(f"  p99 (over subscribers) of max fan-out->strategy delay: {r['p99_max_delay_ms']:.2f} ms")


if __name__ == "__main__":
    main()
