"""SSE vs WebSocket delivery of the same tick stream, on a real sandbox (contract §5.2, §5.6).

``python bench/bench_ws.py`` (on demand). A standalone sandbox runs in its own process; this
process is the client (our ``AsyncKiteAlgoWorkerClient``: ``client.stream_ticks`` for SSE,
``client.ws.stream_ticks`` for the WebSocket). Both carry the same payloads; the client turns
both into the same ``Doc`` objects. For each transport, in interleaved rounds of ``--seconds``,
one stream of ``--instruments`` instruments (200 by default: whatever the sandbox's tick stream
serves, padded with other spellings) is read as fast as it comes, and the figures are:

* ticks delivered per second (the market offers ``instruments / tick_interval``);
* client CPU per tick (``time.process_time`` of this process: receive, framing, JSON decoding,
  ``Doc`` wrapping), and the sandbox's CPU per tick (``/proc/<pid>/stat``);
* the ratio WebSocket / SSE of the client's CPU per tick.

Printed, not asserted: the machine is shared, so only interleaved rounds compare fairly.

Measured 2026-12-04 on this 2-core machine with a load average of about 8 (other jobs): at a
market step every 0.1 s (2,000 ticks/s) both deliver every tick; client CPU per tick, median of
3 rounds, SSE 15.9 us and WebSocket 13.8 us (0.87x); the sandbox's 17 us either way. At a step
every 0.02 s (10,000 ticks/s offered) the loaded box delivers 7,600-8,700 ticks/s, SSE 16.2 us
against WebSocket 14.1 us per tick on the client (0.87x). Most of the client's cost is JSON
decoding and ``Doc`` wrapping, common to both; the WebSocket saves the SSE line scanning.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import trio

if __package__ in (None, ""):  # run as a script (``tasks.py bench``): import bench as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._loopback import cpu_seconds, discover, open_client, spellings, start_sandbox
from supervisor.client import AsyncKiteAlgoWorkerClient


async def _round(
    opened: AbstractAsyncContextManager[Any], seconds: float, pid: int
) -> tuple[int, float, float, float]:
    """(ticks, wall s, client CPU s, sandbox CPU s) over ``seconds`` after the snapshot."""
    ticks = 0
    async with opened as events:
        await events.__anext__()  # the snapshot: not counted
        wall0, cpu0, srv0 = time.monotonic(), time.process_time(), cpu_seconds(pid)
        with trio.move_on_after(seconds):
            async for payload in events:
                ticks += len(payload.get("ticks") or ())
        wall, cpu, srv = time.monotonic() - wall0, time.process_time() - cpu0, cpu_seconds(pid) - srv0
    return ticks, wall, cpu, srv


async def main(args: argparse.Namespace) -> None:
    proc, base_url = start_sandbox(args.tick_interval)
    try:
        async with open_client(base_url) as client:
            await _run(client, proc.pid, args)
    finally:
        proc.terminate()
        proc.wait(10)


async def _run(client: AsyncKiteAlgoWorkerClient, pid: int, args: argparse.Namespace) -> None:
    served = await discover(client)
    symbols = spellings(served, args.instruments)
    padded = "" if len(served) >= args.instruments else f" ({len(served)} served, padded by spelling)"
    offered = len(symbols) / args.tick_interval
    print(
        f"{len(symbols)} instruments{padded}, mode {args.mode}, a market step every {args.tick_interval} s: "
        f"{offered:,.0f} ticks/s offered; {args.rounds} interleaved rounds of {args.seconds} s"
    )

    def opener(name: str) -> AbstractAsyncContextManager[Any]:
        if name == "sse":
            return client.stream_ticks(symbols, mode=args.mode)
        return client.ws.stream_ticks(symbols, mode=args.mode)

    per_tick: dict[str, list[float]] = {"sse": [], "ws": []}
    server_per_tick: dict[str, list[float]] = {"sse": [], "ws": []}
    for round_no in range(1, args.rounds + 1):
        for name in ("sse", "ws"):
            ticks, wall, cpu, srv = await _round(opener(name), args.seconds, pid)
            per_tick[name].append(cpu / ticks * 1e6)
            server_per_tick[name].append(srv / ticks * 1e6)
            print(
                f"  round {round_no} {name:>3}: {ticks / wall:9,.0f} ticks/s, client CPU "
                f"{cpu / ticks * 1e6:5.2f} us/tick ({cpu / wall:4.0%} of a core), sandbox CPU "
                f"{srv / ticks * 1e6:5.2f} us/tick"
            )
    sse, ws = statistics.median(per_tick["sse"]), statistics.median(per_tick["ws"])
    srv_sse, srv_ws = statistics.median(server_per_tick["sse"]), statistics.median(server_per_tick["ws"])
    print(f"median client CPU per tick: SSE {sse:.2f} us, WebSocket {ws:.2f} us, WS/SSE {ws / sse:.2f}x")
    print(
        f"median sandbox CPU per tick: SSE {srv_sse:.2f} us, WebSocket {srv_ws:.2f} us, "
        f"WS/SSE {srv_ws / srv_sse:.2f}x"
    )


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--instruments", type=int, default=200)
    parser.add_argument("--tick-interval", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", default="quote", choices=["ltp", "quote", "full"])
    return parser.parse_args(argv)


if __name__ == "__main__":
    trio.run(main, _parse())
