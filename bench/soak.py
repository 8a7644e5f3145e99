"""Soak: many trading strategies in one daemon for minutes, through backend restarts and
503/429 bursts. Prints figures, asserts nothing on time, stops by itself.

A standalone sandbox (``kite-supervisor sandbox --port 0 --db FILE``) is the backend; the daemon
hosts ``--strategies`` strategies of a real entry-point plugin. Each places one dry-run order
every ``--order-every`` seconds (random phase) with a deterministic idempotency key, retrying
the same key on a transient error as a careful strategy does, and writes every intent and every
answer to a log. Every ``--fault-every`` seconds one fault, in turn: an in-process backend
restart (``POST /__sandbox__/restart`` with ``--downtime``: streams dropped, 503 meanwhile), a
503 window, a 429 window with ``Retry-After``, and a backend SIGKILL restarted after
``--downtime`` on the same port and database. After each, the seconds from the backend
answering again until every strategy has a heartbeat newer than that instant (``/status``).

At the end: RSS at start and end, heartbeats ok/missed, orders intended/accepted/deduped and
**duplicates** (a key the backend accepted as new twice, or an intent the backend holds that no
strategy intended, read from its database), and whether the token appears in the logs.
``python bench/soak.py --strategies 200 --minutes 3``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

from supervisor.sandbox._store import SandboxStore

TOKEN = "kwa_" + "s" * 43
PAGE = os.sysconf("SC_PAGE_SIZE")
# one line per intent and per answer: "<what> <run_id> <key>" (the bench counts them afterwards)
PLUGIN = """
import os, random
import trio
from supervisor import Strategy
from supervisor.client import KiteAlgoWorkerError, OrderRateLimitedError, equity_market_order
from supervisor.client._errors import ErrorClass, classify_error

EVERY = float(os.environ["SOAK_ORDER_EVERY"])
LOG = open(os.environ["SOAK_INTENTS"], "a", buffering=1)

class SoakTrader(Strategy):
    async def run(self, ctx):
        rng = random.Random(ctx.name)
        order = equity_market_order("INFY", "BUY", 1)
        await trio.sleep(rng.uniform(0, EVERY))
        n = 0
        while True:
            key = ctx.key("soak", n)
            n += 1
            LOG.write(f"intend {ctx.run.run_id} {key}\\n")
            for attempt in range(10):
                try:
                    result = await ctx.run.place_order(order, idempotency_key=key)
                except OrderRateLimitedError:
                    LOG.write(f"budget {ctx.run.run_id} {key}\\n")
                    break
                except KiteAlgoWorkerError as exc:
                    if classify_error(exc) is not ErrorClass.TRANSIENT:
                        LOG.write(f"refused {ctx.run.run_id} {key}\\n")
                        break
                    await trio.sleep(min(0.5 * 2**attempt, 8.0))
                    continue
                LOG.write(f"{result.get('status', 'new')} {ctx.run.run_id} {key}\\n")
                break
            else:
                LOG.write(f"gave_up {ctx.run.run_id} {key}\\n")
            await trio.sleep(EVERY)
"""


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 1e6


def status(url: str, timeout: float = 10) -> list[dict[str, object]]:
    strategies: list[dict[str, object]] = httpx.get(url + "/status", timeout=timeout).json()["strategies"]
    return strategies


def ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:  # a thousand strategies attaching on a loaded machine
        return False


def fault(base: str, kind: str, seconds: float) -> None:
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    for prefix in ("/__sandbox__", "/api/algo-workers/__sandbox__"):
        if kind == "restart":
            response = admin.post(prefix + "/restart", json={"downtime_s": seconds})
        else:
            status_code = 503 if kind == "503" else 429
            rule = {"path": "/worker/*", "status": status_code, "retry_after_s": 2}
            response = admin.post(prefix + "/faults", json=rule)
        if response.status_code == 200:
            return
    raise RuntimeError(f"fault {kind} refused: {response.status_code} {response.text[:200]}")


def clear(base: str) -> None:
    for prefix in ("/__sandbox__", "/api/algo-workers/__sandbox__"):
        if (
            httpx.delete(base + prefix + "/faults", headers={"Authorization": f"Bearer {TOKEN}"}).status_code
            == 200
        ):
            return


def recovery_s(url: str, since_unix: float, limit: float) -> float | None:
    """Seconds until every strategy's last heartbeat is newer than ``since_unix``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            beats = [s.get("last_heartbeat_unix") for s in status(url)]
        except httpx.HTTPError:
            beats = [None]
        if all(isinstance(b, int | float) and b > since_unix for b in beats):
            return time.time() - since_unix
        time.sleep(0.5)
    return None


def start_sandbox(work: Path, port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """A standalone sandbox on ``port`` (0: a free one) over ``work/sandbox.db``; its base URL."""
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "supervisor", "--log-level", "WARNING", "sandbox", "--port", str(port),
         "--token", TOKEN, "--tick-interval", "60", "--db", str(work / "sandbox.db")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert sandbox.stdout is not None
    return sandbox, sandbox.stdout.readline().strip()


def duplicates(intents_log: Path, db: Path) -> dict[str, int]:
    """Orders intended and what became of them; the two kinds of duplicate the issue names."""
    intended: set[tuple[str, str]] = set()
    new: dict[tuple[str, str], int] = {}
    outcomes: dict[str, int] = {}
    for line in intents_log.read_text().splitlines():
        what, run_id, key = line.split(" ", 2)
        if what == "intend":
            intended.add((run_id, key))
            continue
        outcomes[what] = outcomes.get(what, 0) + 1
        if what not in ("deduped", "budget", "refused", "gave_up"):  # accepted as a new intent
            new[(run_id, key)] = new.get((run_id, key), 0) + 1
    store = SandboxStore(db)
    try:
        held = set(store.load()[0].intents)
    finally:
        store.close()
    return {
        "intended": len(intended),
        "held by the backend": len(held),
        **{f"answered {what}": count for what, count in sorted(outcomes.items())},
        "duplicate: key accepted as new twice": sum(1 for count in new.values() if count > 1),
        "duplicate: held, never intended": len(held - intended),
        "intended, not held by the backend": len(intended - held),
    }


def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    plugin = work / "plugin"
    dist = plugin / "soak_trader_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (plugin / "soak_trader_plugin.py").write_text(PLUGIN)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: soak-trader-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[kite_algo_supervisor.strategies]\nsoak_trader = soak_trader_plugin:SoakTrader\n"
    )
    sandbox, base = start_sandbox(work)
    port = int(base.rsplit(":", 1)[1].split("/")[0])
    lines = "".join(
        f"  - {{name: s{i:04d}, plugin: soak_trader, run: {{strategy_run_id: soak-{i:04d}, "
        f'template_id: soak, account_scope: "kite:paper-a", execution_mode: dry_run}}}}\n'
        for i in range(args.strategies)
    )
    config = work / "daemon.yaml"
    config.write_text(
        textwrap.dedent(f"""\
            backend: {{base_url: "{base}", token: "${{KITE_ALGO_WORKER_TOKEN}}"}}
            supervisor:
              heartbeat_interval_s: {args.interval}
              state_dir: {work / "state"}
              http: {{host: 127.0.0.1, port: 0}}
            strategies:
            """)
        + lines
    )
    intents_log = work / "intents.log"
    env = {
        **os.environ,
        "KITE_ALGO_WORKER_TOKEN": TOKEN,
        "PYTHONPATH": f"{plugin}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "SOAK_ORDER_EVERY": str(args.order_every),
        "SOAK_INTENTS": str(intents_log),
    }
    log_path = work / "daemon.log"
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "supervisor", "--log-level", "INFO", "run", "--config", str(config)],
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        url = ""
        started = time.monotonic()
        while not url:
            match = re.search(r"HTTP on (http://127\.0\.0\.1:\d+)", log_path.read_text(errors="replace"))
            url = match.group(1) if match else ""
            time.sleep(0.1)
        while not ready(url):
            time.sleep(0.2)
        print(f"ready after {time.monotonic() - started:.1f} s; load average {os.getloadavg()}", flush=True)
        rss_start = rss_mb(daemon.pid)
        end = time.monotonic() + args.minutes * 60
        kinds = ["kill", "503", "restart", "429"]
        recoveries: list[tuple[str, float | None]] = []
        loads: list[float] = [os.getloadavg()[0]]
        n = 0
        while time.monotonic() + args.fault_every < end:
            time.sleep(args.fault_every)
            kind = kinds[n % len(kinds)]
            n += 1
            if kind == "kill":  # the process dies; a new one on the same port and database
                sandbox.send_signal(signal.SIGKILL)
                sandbox.wait(10)
                time.sleep(args.downtime)
                sandbox, base = start_sandbox(work, port)
                back = time.time()
            else:
                fault(base, kind, args.downtime)
                if kind != "restart":
                    time.sleep(args.downtime)
                    clear(base)
                # from the backend answering again: after a restart's downtime, after a window's end
                back = time.time() + (args.downtime if kind == "restart" else 0.0)
            recoveries.append((kind, recovery_s(url, back, 2 * args.interval + 30)))
            loads.append(os.getloadavg()[0])
            print(f"{kind}: {recoveries[-1][1]}; load {loads[-1]:.1f}", flush=True)
        remaining = end - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        final = status(url, timeout=60)
        rss_end = rss_mb(daemon.pid)
    finally:
        daemon.terminate()
        daemon.wait(120)
        sandbox.terminate()
        sandbox.wait(10)
    text = log_path.read_text(errors="replace")
    print(f"strategies {args.strategies}, {args.minutes} min, heartbeat every {args.interval} s, "
          f"an order per strategy every {args.order_every} s, a {args.downtime} s fault every "
          f"{args.fault_every} s")  # fmt: skip
    print(f"load average (1 min) during the run: {min(loads):.1f} to {max(loads):.1f}")
    print(f"RSS start {rss_start:.1f} MB, end {rss_end:.1f} MB, growth {rss_end - rss_start:+.1f} MB")
    ok = sum(int(str(s["heartbeats_ok"])) for s in final)
    missed = sum(int(str(s["heartbeats_missed"])) for s in final)
    running = sum(1 for s in final if s["state"] == "running")
    print(f"heartbeats ok {ok}, missed {missed}; running at the end {running}/{len(final)}")
    for kind, seconds in recoveries:
        shown = "not recovered" if seconds is None else f"{seconds:.1f} s"
        print(f"recovery after {kind:7s}: {shown}")
    for what, count in duplicates(intents_log, work / "sandbox.db").items():
        print(f"orders {what}: {count}")
    print(f"token in the captured logs: {TOKEN in text}; daemon exit code {daemon.returncode}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--strategies", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=10.0, help="heartbeat_interval_s")
    parser.add_argument("--order-every", type=float, default=300.0, help="seconds between orders")
    parser.add_argument("--fault-every", type=float, default=60.0)
    parser.add_argument("--downtime", type=float, default=15.0, help="seconds each fault lasts")
    main(parser.parse_args())
