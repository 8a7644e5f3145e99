"""CPU per heartbeat against the size of the heartbeat client's connection pool.

Against a standalone sandbox on loopback, claims ``--runs`` sessions, then sends heartbeats in
bursts of ``--burst`` concurrent beats (about what one 125 ms slot of 1,000 strategies beating
every 10 s holds) through the daemon's heartbeat client (``_daemon._open_client`` with the request
observer, the real pipeline), once per pool size in ``--pools``, ``--rounds`` times alternating.
Prints the client process's CPU per beat for each, and the ratio to the largest pool: httpcore's
pool does work per request that grows with its open connections. On demand only.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import sys
from pathlib import Path
from typing import Any

import trio

if __package__ in (None, ""):  # run as a script: import bench as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._loopback import TOKEN, start_sandbox
from supervisor._daemon import _open_client


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def observe(group: str, status: int | str | None, seconds: float) -> None:
    pass  # the daemon's observer feeds a histogram; the call itself is what is measured here


async def measure(base: str, pool: int, args: argparse.Namespace, tag: str) -> float:
    """CPU milliseconds per heartbeat with a pool of ``pool`` connections."""
    async with _open_client(base, TOKEN, 10, observe, connections=pool, keepalive=pool) as client:
        nonces: dict[str, str] = {}
        gate = trio.CapacityLimiter(16)

        async def claim(i: int) -> None:
            run_id = f"bench-pool-{tag}-{i:04d}"
            async with gate:
                await client.create_run(
                    strategy_run_id=run_id,
                    template_id="bench",
                    account_scope="kite:paper-a",
                    execution_mode="dry_run",
                )
                nonces[run_id] = (await client.claim_session(run_id))["worker_session_nonce"]

        async with trio.open_nursery() as nursery:
            for i in range(args.runs):
                nursery.start_soon(claim, i)
        run_ids = list(nonces)
        metrics: dict[str, Any] = {"state": "running", "restarts": 0, "progress_count": 0}

        async def beat(run_id: str) -> None:
            await client.run_heartbeat(
                run_id, session_nonce=nonces[run_id], status="healthy", metrics=metrics
            )

        sent = 0
        started = cpu()
        while sent < args.beats:
            async with trio.open_nursery() as nursery:
                for _ in range(args.burst):
                    nursery.start_soon(beat, run_ids[sent % len(run_ids)])
                    sent += 1
        return 1000 * (cpu() - started) / sent


def main(args: argparse.Namespace) -> None:
    sandbox, base = start_sandbox(60)
    results: dict[int, list[float]] = {pool: [] for pool in args.pools}
    try:
        for r in range(args.rounds):
            for pool in args.pools:
                results[pool].append(trio.run(measure, base, pool, args, f"{os.getpid()}-{r}-{pool}"))
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(30)
    largest = statistics.median(results[max(args.pools)])
    print(
        f"\nbursts of {args.burst} concurrent heartbeats, {args.beats} per measurement, {args.rounds} rounds"
    )
    print("| pool | CPU per heartbeat (each round) | median | vs the largest pool |")
    print("|---|---|---|---|")
    for pool, values in results.items():
        median = statistics.median(values)
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {pool} | {each} ms | {median:.2f} ms | {median / largest:.2f}x |")
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[4, 8, 16, 64])
    parser.add_argument("--burst", type=int, default=12)
    parser.add_argument("--beats", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    main(parser.parse_args())
