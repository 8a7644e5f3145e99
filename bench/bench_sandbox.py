"""Capacity of the sandbox on this machine: many runs heartbeating, plus tick streams.

Starts ``kite-supervisor sandbox --port 0`` as a subprocess (trio by default, ``--asyncio`` for
uvloop), creates N runs, claims them, then for ``--seconds`` sends one run heartbeat per run
every ``--interval`` seconds (spread evenly) while ``--streams`` SSE tick streams consume ticks.
Then it measures the peak heartbeat rate with ``--burst-concurrency`` clients in flight.
Each stream subscribes to ``--instruments`` instruments (6 NSE equities by default; up to the
50 equities, the two indices and NIFTY/BANKNIFTY options from the mini-chain). Prints achieved
rates and latency percentiles. ``--market-step`` instead times the pure market step in-process:
an empty book (the baseline) against 1,000 resting orders plus 1,000 filled ones, as a ratio.
On demand only: ``python bench/bench_sandbox.py``.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import time

import httpx
import trio

TOKEN = "kwa_" + "b" * 43
PREFIX = "/api/algo-workers"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _setup(client: httpx.AsyncClient, runs: int) -> dict[str, str]:
    nonces: dict[str, str] = {}
    limiter = trio.CapacityLimiter(32)

    async def one(i: int) -> None:
        async with limiter:
            run_id = f"bench_{i:05d}"
            body = {"strategy_run_id": run_id, "template_id": "bench", "account_scope": "kite:paper-a",
                    "execution_mode": "dry_run"}  # fmt: skip
            r = await client.post(f"{PREFIX}/worker/runs", json=body)
            if r.status_code == 409:
                pass
            claim = await client.post(f"{PREFIX}/worker/runs/{run_id}/claim-session")
            nonces[run_id] = claim.json()["worker_session_nonce"]

    async with trio.open_nursery() as nursery:
        for i in range(runs):
            nursery.start_soon(one, i)
    return nonces


async def _heartbeats(
    client: httpx.AsyncClient, nonces: dict[str, str], interval: float, seconds: float, latencies: list[float]
) -> int:
    sent = 0
    errors = 0
    ids = list(nonces)
    spacing = interval / max(1, len(ids))
    start = trio.current_time()

    async def beat(run_id: str) -> None:
        nonlocal sent, errors
        t0 = time.perf_counter()
        r = await client.post(
            f"{PREFIX}/worker/runs/{run_id}/heartbeat",
            json={},
            headers={"X-Worker-Session-Nonce": nonces[run_id]},
        )
        latencies.append(time.perf_counter() - t0)
        if r.status_code == 200:
            sent += 1
        else:
            errors += 1

    async with trio.open_nursery() as nursery:
        k = 0
        while trio.current_time() - start < seconds:
            await trio.sleep_until(start + k * spacing)
            nursery.start_soon(beat, ids[k % len(ids)])
            k += 1
    if errors:
        print(f"  heartbeat errors: {errors}")
    return sent


async def _ticks(client: httpx.AsyncClient, symbols: list[str], counter: list[int], stop: trio.Event) -> None:
    params = {"symbols": ",".join(symbols), "tokens": "", "mode": "quote"}
    try:
        async with client.stream("GET", f"{PREFIX}/worker/market/ticks/stream", params=params) as response:
            if response.status_code != 200:
                print(f"  tick stream unavailable: {response.status_code}")
                return
            async for line in response.aiter_lines():
                if line.startswith("data: ") and '"ticks"' in line:
                    counter[0] += line.count('"last_price"')
                if stop.is_set():
                    return
    except httpx.HTTPError as exc:
        print(f"  tick stream ended: {exc!r}")


async def _burst(
    client: httpx.AsyncClient, nonces: dict[str, str], concurrency: int, seconds: float
) -> float:
    done = 0
    ids = list(nonces)
    deadline = trio.current_time() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        i = offset
        while trio.current_time() < deadline:
            run_id = ids[i % len(ids)]
            await client.post(
                f"{PREFIX}/worker/runs/{run_id}/heartbeat",
                json={},
                headers={"X-Worker-Session-Nonce": nonces[run_id]},
            )
            done += 1
            i += concurrency

    async with trio.open_nursery() as nursery:
        for c in range(concurrency):
            nursery.start_soon(worker, c)
    return done / seconds


SIX = ["NSE:INFY", "NSE:RELIANCE", "NSE:TCS", "NSE:HDFCBANK", "NSE:ICICIBANK", "NSE:SBIN"]


async def _instruments(client: httpx.AsyncClient, count: int) -> list[str]:
    """``count`` streamable instruments: the six equities first, then the universe's others."""
    if count <= len(SIX):
        return SIX[:count]
    found = list(SIX)
    from supervisor.sandbox._universe import EQUITIES, INDICES  # the static tables (no server state)

    found += [f"NSE:{s}" for s in EQUITIES if f"NSE:{s}" not in found]
    found += [f"NSE:{s}" for s in INDICES]
    for underlying in ("NIFTY", "BANKNIFTY"):
        r = await client.get(
            f"{PREFIX}/worker/options/underlyings/{underlying}/mini-chain", params={"window": 20}
        )
        found += [f"NFO:{c['tradingsymbol']}" for c in r.json()["contracts"]]
    return found[:count]


async def main(args: argparse.Namespace, base: str) -> None:
    limits = httpx.Limits(max_connections=args.burst_concurrency + args.streams + 64)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30.0, limits=limits) as client:
        t0 = time.perf_counter()
        nonces = await _setup(client, args.runs)
        print(f"setup: {args.runs} runs created+claimed in {time.perf_counter() - t0:.1f}s")
        latencies: list[float] = []
        counter = [0]
        stop = trio.Event()
        symbols = await _instruments(client, args.instruments)
        async with trio.open_nursery() as nursery:
            for _ in range(args.streams):
                nursery.start_soon(_ticks, client, symbols, counter, stop)
            sent = await _heartbeats(client, nonces, args.interval, args.seconds, latencies)
            stop.set()
            nursery.cancel_scope.cancel()
        target = args.runs / args.interval
        mean = statistics.fmean(latencies) * 1000 if latencies else float("nan")
        p50, p99 = _pct(latencies, 0.5) * 1000, _pct(latencies, 0.99) * 1000
        print(
            f"steady: {sent / args.seconds:.0f} heartbeats/s (target {target:.0f}/s), "
            f"latency p50 {p50:.1f} ms p99 {p99:.1f} ms mean {mean:.1f} ms"
        )
        print(
            f"ticks delivered to {args.streams} streams x {len(symbols)} instruments: "
            f"{counter[0] / args.seconds:.0f} ticks/s"
        )
        rate = await _burst(client, nonces, args.burst_concurrency, args.burst_seconds)
        print(f"burst: {rate:.0f} heartbeats/s with {args.burst_concurrency} in flight")


def market_step(steps: int) -> None:
    """Time ``_loops.market_tick`` in-process: an empty book vs 1,000 resting + 1,000 filled
    orders, in one batch and in 10 phases (``--tick-phases 10``: ten phase steps a step)."""
    import datetime as dt

    from supervisor.sandbox._loops import market_tick
    from supervisor.sandbox._market import Market
    from supervisor.sandbox._paper import PaperEngine
    from supervisor.sandbox._state import SandboxState

    t0 = dt.datetime(2026, 5, 4, 4, 0, tzinfo=dt.UTC)
    order = {"exchange": "NSE", "transaction_type": "BUY", "quantity": 1, "validity": "DAY"}
    resting = {**order, "tradingsymbol": "INFY", "product": "CNC", "order_type": "LIMIT", "price": 1.0}
    filled = {**order, "tradingsymbol": "TCS", "product": "MIS", "order_type": "MARKET"}
    timings: dict[tuple[int, int], float] = {}
    for orders, phases in ((0, 1), (1000, 1), (0, 10), (1000, 10)):
        engine, state = PaperEngine(Market(1, t0, phases=phases)), SandboxState()
        for i in range(orders):
            engine.place_order("kite:paper-a", f"r{i % 50}", resting, t0)
            engine.place_order("kite:paper-a", f"r{i % 50}", filled, t0)
        start = time.perf_counter()
        for k in range(steps * phases):  # a whole market step is `phases` phase steps
            market_tick(state, engine, t0 + dt.timedelta(seconds=(k + 1) / phases))
        timings[orders, phases] = (time.perf_counter() - start) / steps
    base = timings[0, 1]
    print(f"market step, empty book: {base * 1e6:.1f} us (baseline)")
    for (orders, phases), timing in timings.items():
        if (orders, phases) != (0, 1):
            book = "1,000 resting + 1,000 filled orders" if orders else "empty book"
            print(f"market step, {book}, {phases} phase(s): {timing * 1e6:.1f} us "
                  f"({timing / base:.1f}x baseline)")  # fmt: skip


def run(args: argparse.Namespace) -> None:
    """Start the sandbox process, run the load from this process, stop the sandbox."""
    cmd = [sys.executable, "-m", "supervisor", "--log-level", "WARNING", "sandbox", "--port", "0"]
    cmd += ["--token", TOKEN, "--tick-interval", str(args.tick_interval)]
    if args.asyncio:
        cmd.append("--asyncio")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        trio.run(main, args, proc.stdout.readline().strip())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--tick-interval", type=float, default=0.01)
    parser.add_argument("--burst-concurrency", type=int, default=32)
    parser.add_argument("--burst-seconds", type=float, default=5.0)
    parser.add_argument("--instruments", type=int, default=6)
    parser.add_argument("--asyncio", action="store_true")
    parser.add_argument("--market-step", action="store_true", help="time the pure market step only")
    parsed = parser.parse_args()
    if parsed.market_step:
        market_step(2000)
    else:
        run(parsed)
