"""Tick grouping for the hub: N per-instrument SSE streams vs one union stream, on a real sandbox.

``python bench/bench_hub_grouping.py`` (on demand). A standalone sandbox
(``kite-supervisor sandbox --port 0 --tick-interval T``) runs in its own process; this process
is the client (our ``AsyncKiteAlgoWorkerClient``, the path the hub uses). For each N it
measures, over the same window, both groupings of N instruments:

* per-instrument: N streams ``GET /worker/market/ticks/stream?symbols=<one>``;
* union: one stream with all N symbols.

Figures: delivered ticks per second (against the ``N / T`` the market offers), client CPU and
sandbox CPU per delivered tick (``time.process_time`` here, ``/proc/<pid>/stat`` there), and
the delay from the tick's ``exchange_timestamp`` to its arrival here, p50/p99. The sandbox
stamps ticks with ``epoch + loop time`` (``epoch``: its wall clock at start, read just after
its first loop-clock read), compared with the same kind of clock here (``_loopback.Stamps``:
wall time at start plus monotonic time; ``time.time()`` drifts from it by 0.5 % on this
machine). The offset is still measured first (a freshly stamped response against the midpoint
of the fastest of 20 requests; about 0 ms since the sandbox clock reads its loop clock first)
and removed; the minimum delay is printed as a check.

Then the cost of a resubscription of the union (the set changes by one instrument): the time
from opening the new union to its snapshot, the longest silence seen by the instruments that
stayed, when the old stream is closed first (break-before-make) or only after the new one's
snapshot (make-before-break), and the CPU per resubscription on both sides.

Instruments: whatever the sandbox's tick stream serves (search hits and option-chain contracts,
probed with a stream snapshot). When fewer than N are served, the list is padded by repeating
them (the server builds one quote per requested entry either way), and that is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import trio

if __package__ in (None, ""):  # run as a script (``tasks.py bench``): import bench as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._loopback import Stamps, clock_skew, cpu_seconds, discover, open_client, start_sandbox
from supervisor.client import AsyncKiteAlgoWorkerClient


class Recorder:
    """Counts ticks and server-stamp -> arrival delays while ``on`` (one stamp per event)."""

    def __init__(self, stamps: Stamps) -> None:
        self.stamps = stamps
        self.on = False
        self.ticks = 0
        self.events = 0
        self.delays: list[tuple[float, int]] = []
        self.last_seen: dict[str, float] = {}  # instrument -> arrival (monotonic) of its last tick
        self.longest_silence: dict[str, float] = {}

    def record(self, payload: Any) -> None:
        rows = payload.get("ticks") if isinstance(payload, Mapping) else None
        if not rows:
            return
        now = time.monotonic()
        for row in rows:
            name = row.get("symbol") or ""
            last = self.last_seen.get(name)
            if last is not None and self.on:
                self.longest_silence[name] = max(self.longest_silence.get(name, 0.0), now - last)
            self.last_seen[name] = now
        if not self.on:
            return
        stamp = rows[0].get("exchange_timestamp")
        if stamp:
            self.delays.append((self.stamps.delay(stamp), len(rows)))
        self.events += 1
        self.ticks += len(rows)


def percentile(weighted: Sequence[tuple[float, int]], q: float) -> float:
    if not weighted:
        return float("nan")
    ordered = sorted(weighted)
    total = sum(w for _, w in ordered)
    acc = 0
    for value, w in ordered:
        acc += w
        if acc >= q * total:
            return value
    return ordered[-1][0]


async def measure(
    client: AsyncKiteAlgoWorkerClient, groups: list[list[str]], seconds: float, pid: int, stamps: Stamps
) -> dict[str, float]:
    rec = Recorder(stamps)
    opened = 0
    all_open = trio.Event()

    async def consume(symbols: list[str]) -> None:
        nonlocal opened
        async with client.stream_ticks(symbols, mode="quote") as events:
            await events.__anext__()  # snapshot
            opened += 1
            if opened == len(groups):
                all_open.set()
            async for payload in events:
                rec.record(payload)

    async with trio.open_nursery() as nursery:
        for group in groups:
            nursery.start_soon(consume, group)
        with trio.fail_after(60):
            await all_open.wait()
        await trio.sleep(1.0)  # warm-up
        cpu0, srv0, t0 = time.process_time(), cpu_seconds(pid), time.monotonic()
        rec.on = True
        await trio.sleep(seconds)
        rec.on = False
        cpu, srv, wall = time.process_time() - cpu0, cpu_seconds(pid) - srv0, time.monotonic() - t0
        nursery.cancel_scope.cancel()
    ticks = max(rec.ticks, 1)
    return {
        "ticks_per_s": rec.ticks / wall,
        "events_per_s": rec.events / wall,
        "client_us": 1e6 * cpu / ticks,
        "server_us": 1e6 * srv / ticks,
        "client_cpu_pct": 100 * cpu / wall,
        "server_cpu_pct": 100 * srv / wall,
        "p50_ms": 1e3 * percentile(rec.delays, 0.50),
        "p99_ms": 1e3 * percentile(rec.delays, 0.99),
        "min_ms": 1e3 * min((d for d, _ in rec.delays), default=float("nan")),
    }


async def resubscription(
    client: AsyncKiteAlgoWorkerClient, ids: list[str], pid: int, rounds: int, make_before_break: bool
) -> dict[str, float]:
    """Toggle one instrument in and out of a union of ``ids``; the others must keep flowing."""
    rec = Recorder(Stamps())  # silences only: no delays
    to_snapshot: list[float] = []
    base, extra = ids[:-1], ids[-1:]
    current: list[trio.CancelScope] = []

    async def stream(symbols: list[str], scope: trio.CancelScope, ready: trio.Event) -> None:
        with scope:
            async with client.stream_ticks(symbols, mode="quote") as events:
                await events.__anext__()
                ready.set()
                async for payload in events:
                    rec.record(payload)

    async with trio.open_nursery() as nursery:

        async def switch(symbols: list[str]) -> None:
            scope, ready = trio.CancelScope(), trio.Event()
            if not make_before_break and current:
                current.pop().cancel()
            t = time.monotonic()
            nursery.start_soon(stream, symbols, scope, ready)
            await ready.wait()
            to_snapshot.append(time.monotonic() - t)
            if current:
                current.pop().cancel()  # the new stream's snapshot is in: drop the old one
            current.append(scope)

        await switch(base)
        await trio.sleep(1.0)
        rec.on = True
        for i in range(rounds):  # the silence the others see: ticks keep flowing in between
            await switch(base + extra if i % 2 == 0 else base)
            await trio.sleep(0.2)
        rec.on = False
        cpu0, srv0 = time.process_time(), cpu_seconds(pid)
        for i in range(rounds):  # the CPU: back to back (steady streaming meanwhile included)
            await switch(base + extra if i % 2 == 0 else base)
        cpu, srv = time.process_time() - cpu0, cpu_seconds(pid) - srv0
        nursery.cancel_scope.cancel()
    stayed = [rec.longest_silence.get(name, 0.0) for name in dict.fromkeys(base)]
    return {
        "to_snapshot_ms": 1e3 * statistics.median(to_snapshot[1:]),
        "silence_ms": 1e3 * max(stayed),
        "cpu_ms": 1e3 * cpu / rounds,
        "server_ms": 1e3 * srv / rounds,
    }


async def run(args: argparse.Namespace, base_url: str, pid: int) -> None:
    async with open_client(base_url) as client:
        served = await discover(client)
        print(f"tick stream serves {len(served)} instruments: {', '.join(served[:8])}"
              f"{' ...' if len(served) > 8 else ''}")  # fmt: skip
        stamps = Stamps()
        stamps.skew = await clock_skew(client, stamps.now)
        print(f"sandbox stamps minus our clock: {stamps.skew * 1e3:+.2f} ms (removed from the delays)")
        tick = args.tick_interval
        print(f"market step every {tick * 1e3:g} ms, {args.seconds:g} s per measurement, quote mode")
        print(f"{'N':>5} {'grouping':<15} {'ticks/s':>8} {'offered':>8} {'client us/tick':>15} "
              f"{'server us/tick':>15} {'client %':>9} {'server %':>9} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'min ms':>7}")  # fmt: skip
        for n in args.sizes:
            ids = [served[i % len(served)] for i in range(n)]
            for label, groups in (("per-instrument", [[i] for i in ids]), ("union", [ids])):
                r = await measure(client, groups, args.seconds, pid, stamps)
                print(f"{n:>5} {label:<15} {r['ticks_per_s']:>8.0f} {n / tick:>8.0f} "
                      f"{r['client_us']:>15.1f} {r['server_us']:>15.1f} {r['client_cpu_pct']:>9.0f} "
                      f"{r['server_cpu_pct']:>9.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
                      f"{r['min_ms']:>7.2f}")  # fmt: skip
            if n > len(served):
                print(f"      (N={n}: {len(served)} distinct instruments, repeated)")
        print(f"wall clock against the monotonic clock: {stamps.wall_drift() * 100:+.2f} % (delays are "
              "measured on a monotonic clock, as the sandbox stamps)")  # fmt: skip
        n = max(args.sizes)
        ids = [served[i % len(served)] for i in range(n)]
        print(f"union resubscription, {n} instruments, one toggled in/out, {args.rounds} times:")
        for mbb in (False, True):
            r = await resubscription(client, ids, pid, args.rounds, mbb)
            label = "make-before-break" if mbb else "break-before-make"
            print(f"  {label}: open->snapshot {r['to_snapshot_ms']:.1f} ms; longest silence of the "
                  f"instruments that stayed {r['silence_ms']:.0f} ms (step {tick * 1e3:g} ms); "
                  f"CPU per round client {r['cpu_ms']:.1f} ms, server {r['server_ms']:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tick-interval", type=float, default=0.05, help="sandbox market step (s)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[6, 50, 200])
    parser.add_argument("--rounds", type=int, default=20)
    args, _ = parser.parse_known_args()  # tasks.py passes its extra arguments to every bench
    proc, base_url = start_sandbox(args.tick_interval)
    try:
        trio.run(run, args, base_url, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
