"""The HTTP layer's cost on this tree against a baseline tree, in the same run (issue 12).

The sandbox's app is measured twice, each time in a child process: on this tree, and on
``--baseline`` (a git ref; its ``supervisor`` package is exported with ``git archive`` into a
temporary directory put first on ``PYTHONPATH``). Rounds alternate (baseline, this tree, ...)
so that a machine busy with other work weighs on both; each figure is the best round.

Figures are CPU time of the serving process (``time.process_time`` in-process, ``/proc`` for
the sandbox subprocess), which load on the machine's other cores changes far less than wall
time, plus the loopback rate:

1. ``asgi``: a route mix (heartbeat, run, P&L, quotes, orders, a 404) called on the ASGI app
   directly, no socket, no client: CPU us per request (the layer plus the handlers).
2. ``transport``: the same mix through httpx and the backtest's ``InProcessTransport`` (the hot
   path of ``kite-supervisor backtest``): CPU us per request.
3. ``sse``: ``--streams`` tick streams over ``--virtual-s`` seconds of 0.1 s market steps on a
   virtual clock, in-process: CPU us per tick event delivered.
4. ``loopback-trio`` / ``loopback-asyncio``: the standalone sandbox (hypercorn; trio, and
   asyncio/uvloop with ``--asyncio``) on loopback, ``--concurrency`` clients in flight running
   the mix: the sandbox's CPU us per request, and requests per second.

Prints each figure for both trees and the ratio this/baseline (below 1: this tree is cheaper).
On demand only: ``python bench/bench_http_layer.py [--baseline REF] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio
import trio.testing

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "kwa_" + "h" * 43
PREFIX = "/api/algo-workers"
EPOCH = dt.datetime(2026, 6, 2, 4, 0, tzinfo=dt.UTC)  # a Tuesday, 09:30 IST
RUN = "bench_layer"
Message = MutableMapping[str, Any]
App = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


def _mix(nonce: str) -> list[tuple[str, str, bytes, bytes, dict[str, str]]]:
    """(method, path, query, body, extra headers): what a worker asks most, and a miss."""
    quotes = json.dumps({"symbols": ["NSE:INFY", "NSE:TCS"], "mode": "quote"}).encode()
    return [
        ("POST", f"/worker/runs/{RUN}/heartbeat", b"", b"{}", {"x-worker-session-nonce": nonce}),
        ("GET", f"/worker/runs/{RUN}", b"", b"", {}),
        ("GET", f"/worker/runs/{RUN}/pnl", b"", b"", {}),
        ("POST", "/worker/market/quotes", b"", quotes, {}),
        ("GET", "/worker/orders", f"strategy_run_id={RUN}".encode(), b"", {}),
        ("GET", "/worker/nope", b"", b"", {}),
    ]


def _scope(method: str, path: str, query: bytes, headers: dict[str, str]) -> dict[str, Any]:
    raw = [(b"authorization", f"Bearer {TOKEN}".encode()), (b"content-type", b"application/json")]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.1"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": PREFIX + path, "raw_path": (PREFIX + path).encode(),
        "query_string": query, "root_path": "", "headers": raw, "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
    }  # fmt: skip


async def _call(app: App, *request: Any) -> int:
    """One request ``(method, path, query, body, headers)`` on the app, as a server would make
    it; returns the status."""
    method, path, query, body, headers = request
    delivered = False
    status = 0

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(method, path, query, headers), receive, send)
    return status


def _context() -> tuple[Any, App]:
    from supervisor.sandbox._app import build_app
    from supervisor.sandbox._server import _make_context

    ctx, _ = _make_context(token=TOKEN, db_path=None, seed=1, market_hours="always", epoch=EPOCH)
    app: App = build_app(ctx)
    return ctx, app


async def _claim(app: App) -> str:
    """Create the bench's run and claim its session through the app; returns the nonce."""
    body = json.dumps({"strategy_run_id": RUN, "template_id": "bench", "account_scope": "kite:paper-a",
                       "execution_mode": "paper"}).encode()  # fmt: skip
    captured: list[bytes] = []

    async def run(method: str, path: str, payload: bytes) -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body":
                captured.append(message.get("body", b""))

        await app(_scope(method, path, b"", {}), receive, send)

    await run("POST", "/worker/runs", body)
    captured.clear()
    await run("POST", f"/worker/runs/{RUN}/claim-session", b"")
    nonce: str = json.loads(b"".join(captured))["worker_session_nonce"]
    return nonce


async def measure_asgi(requests: int) -> dict[str, float]:
    _, app = _context()
    mix = _mix(await _claim(app))
    statuses: dict[int, int] = {}
    for i in range(200):  # warm up
        await _call(app, *mix[i % len(mix)])
    start = time.process_time()
    for i in range(requests):
        status = await _call(app, *mix[i % len(mix)])
        statuses[status] = statuses.get(status, 0) + 1
    cpu = time.process_time() - start
    assert set(statuses) == {200, 404}, statuses
    return {"asgi_us_per_request": cpu / requests * 1e6}


async def measure_transport(requests: int) -> dict[str, float]:
    from supervisor.backtest._transport import InProcessTransport

    _, app = _context()
    mix = _mix(await _claim(app))
    async with trio.open_nursery() as nursery:
        transport = InProcessTransport(app, nursery)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox" + PREFIX,
                                     headers=headers) as client:  # fmt: skip

            async def one(i: int) -> int:
                method, path, query, body, extra = mix[i % len(mix)]
                r = await client.request(method, path, params=query.decode() or None, content=body or None,
                                         headers=extra)  # fmt: skip
                return r.status_code

            for i in range(200):
                await one(i)
            start = time.process_time()
            for i in range(requests):
                assert await one(i) in (200, 404)
            cpu = time.process_time() - start
        nursery.cancel_scope.cancel()
    return {"transport_us_per_request": cpu / requests * 1e6}


async def measure_sse(streams: int, virtual_s: float) -> dict[str, float]:
    from supervisor.sandbox._server import _every, market_step

    ctx, app = _context()
    delivered = [0]
    query = b"symbols=NSE:INFY,NSE:TCS,NSE:RELIANCE,NSE:SBIN,NSE:HDFCBANK,NSE:ICICIBANK&mode=quote"

    async def stream(done: trio.Event) -> None:
        async def receive() -> Message:
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body":
                delivered[0] += message.get("body", b"").count(b"event: ticks")

        await app(_scope("GET", "/worker/market/ticks/stream", query, {}), receive, send)

    done = trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(streams):
            nursery.start_soon(stream, done)
        nursery.start_soon(_every, 0.1, partial(market_step, ctx))
        start = time.process_time()
        await trio.sleep(virtual_s)
        cpu = time.process_time() - start
        events = delivered[0]
        done.set()
        nursery.cancel_scope.cancel()
    assert events > 0
    return {"sse_us_per_event": cpu / events * 1e6, "sse_events": float(events)}


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _loopback_load(base: str, concurrency: int, seconds: float, pid: int) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base + PREFIX, headers=headers, limits=limits, timeout=30
    ) as client:
        body = {"strategy_run_id": RUN, "template_id": "bench", "account_scope": "kite:paper-a",
                "execution_mode": "paper"}  # fmt: skip
        await client.post("/worker/runs", json=body)
        nonce = (await client.post(f"/worker/runs/{RUN}/claim-session")).json()["worker_session_nonce"]
        mix = _mix(nonce)
        done = 0
        deadline = trio.current_time() + seconds

        async def worker(offset: int) -> None:
            nonlocal done
            i = offset
            while trio.current_time() < deadline:
                method, path, query, content, extra = mix[i % len(mix)]
                r = await client.request(method, path, params=query.decode() or None, content=content or None,
                                         headers=extra)  # fmt: skip
                assert r.status_code in (200, 404), r.text
                done += 1
                i += 1

        cpu0, wall0 = _cpu_seconds(pid), time.perf_counter()
        async with trio.open_nursery() as nursery:
            for c in range(concurrency):
                nursery.start_soon(worker, c)
        cpu, wall = _cpu_seconds(pid) - cpu0, time.perf_counter() - wall0
    return cpu / done * 1e6, done / wall


def measure_loopback(asyncio: bool, concurrency: int, seconds: float) -> dict[str, float]:
    cmd = [sys.executable, "-m", "supervisor", "--log-level", "WARNING", "sandbox", "--port", "0",
           "--token", TOKEN, "--tick-interval", "1"]  # fmt: skip
    if asyncio:
        cmd.append("--asyncio")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        us, rate = trio.run(_loopback_load, base, concurrency, seconds, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    name = "loopback_asyncio" if asyncio else "loopback_trio"
    return {f"{name}_us_per_request": us, f"{name}_requests_per_s": rate}


def child(args: argparse.Namespace) -> None:
    """One round on whichever ``supervisor`` is first on the path; JSON on stdout."""
    import logging

    logging.disable(logging.CRITICAL)  # the mix's 404 and the like are not news here
    out: dict[str, float] = {}
    out |= trio.run(measure_asgi, args.requests)
    out |= trio.run(measure_transport, args.requests)
    clock = trio.testing.MockClock(autojump_threshold=0)
    out |= trio.run(measure_sse, args.streams, args.virtual_s, clock=clock)
    out |= measure_loopback(False, args.concurrency, args.seconds)
    out |= measure_loopback(True, args.concurrency, args.seconds)
    print(json.dumps(out))


def _round(args: argparse.Namespace, pythonpath: str | None) -> dict[str, float]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, __file__, "--child", "--requests", str(args.requests), "--streams",
           str(args.streams), "--virtual-s", str(args.virtual_s), "--concurrency", str(args.concurrency),
           "--seconds", str(args.seconds)]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-http-layer-") as tmp:
        archive = subprocess.run(["git", "archive", args.baseline, "supervisor"], cwd=ROOT, check=True,
                                 capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        rev = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()  # fmt: skip
        best: dict[str, dict[str, float]] = {"baseline": {}, "this": {}}
        for k in range(args.rounds):
            for label, path in (("baseline", tmp), ("this", None)):
                result = _round(args, path)
                print(f"round {k + 1} {label}: " + ", ".join(f"{n} {v:.1f}" for n, v in result.items()),
                      flush=True)  # fmt: skip
                for name, value in result.items():
                    keep = max if name.endswith("_per_s") or name == "sse_events" else min
                    best[label][name] = keep(best[label].get(name, value), value)
    print(
        f"\nbest of {args.rounds} rounds; baseline {args.baseline} ({rev}), this tree (HEAD {head} + changes)"
    )
    print(f"{'figure':38} {'baseline':>12} {'this':>12} {'this/base':>10}")
    for name, base in best["baseline"].items():
        mine = best["this"][name]
        print(f"{name:38} {base:12.1f} {mine:12.1f} {mine / base:10.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git ref of the baseline tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--virtual-s", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.child:
        child(parsed)
    else:
        main(parsed)
