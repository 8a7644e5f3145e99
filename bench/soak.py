"""Soak: many idle strategies in one daemon for minutes, through backend restarts and 503/429
bursts. Prints figures, asserts nothing on time, stops by itself.

A standalone sandbox (``kite-supervisor sandbox --port 0``) is the backend; the daemon hosts
``--strategies`` idle strategies of a real entry-point plugin. Every ``--fault-every`` seconds
one fault, in turn: a backend restart (``POST /__sandbox__/restart`` with ``--downtime``), a
503 window, a 429 window with ``Retry-After``. After each, the seconds from the backend
answering again until every strategy has a heartbeat newer than that instant (``/status``).
At the end: RSS at start and end, heartbeats ok/missed, and whether the token appears in the
captured logs. ``python bench/soak.py --strategies 200 --minutes 3``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

TOKEN = "kwa_" + "s" * 43
PAGE = os.sysconf("SC_PAGE_SIZE")
PLUGIN = """
from supervisor import Strategy

class SoakIdle(Strategy):
    async def run(self, ctx):
        await ctx.stopping.wait()
"""


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 1e6


def status(url: str) -> list[dict[str, object]]:
    strategies: list[dict[str, object]] = httpx.get(url + "/status", timeout=10).json()["strategies"]
    return strategies


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


def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    plugin = work / "plugin"
    dist = plugin / "soak_idle_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (plugin / "soak_idle_plugin.py").write_text(PLUGIN)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: soak-idle-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[kite_algo_supervisor.strategies]\nsoak_idle = soak_idle_plugin:SoakIdle\n"
    )
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "supervisor", "--log-level", "WARNING", "sandbox", "--port", "0",
         "--token", TOKEN, "--tick-interval", "60", "--db", str(work / "sandbox.db")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert sandbox.stdout is not None
    base = sandbox.stdout.readline().strip()
    lines = "".join(
        f"  - {{name: s{i:04d}, plugin: soak_idle, run: {{strategy_run_id: soak-{i:04d}, template_id: soak, "
        f'account_scope: "kite:paper-a", execution_mode: dry_run}}}}\n'
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
    env = {
        **os.environ,
        "KITE_ALGO_WORKER_TOKEN": TOKEN,
        "PYTHONPATH": f"{plugin}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    log_path = work / "daemon.log"
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "supervisor", "--log-level", "INFO", "run", "--config", str(config)],
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        url = ""
        while not url:
            match = re.search(r"HTTP on (http://127\.0\.0\.1:\d+)", log_path.read_text(errors="replace"))
            url = match.group(1) if match else ""
            time.sleep(0.1)
        while httpx.get(url + "/readyz", timeout=5).status_code != 200:
            time.sleep(0.2)
        rss_start = rss_mb(daemon.pid)
        end = time.monotonic() + args.minutes * 60
        kinds = ["restart", "503", "429"]
        recoveries: list[tuple[str, float | None]] = []
        n = 0
        while time.monotonic() + args.fault_every < end:
            time.sleep(args.fault_every)
            kind = kinds[n % len(kinds)]
            n += 1
            fault(base, kind, args.downtime)
            if kind != "restart":
                time.sleep(args.downtime)
                clear(base)
            # from the backend answering again: after a restart's downtime, after a window's end
            back = time.time() + (args.downtime if kind == "restart" else 0.0)
            recoveries.append((kind, recovery_s(url, back, 2 * args.interval + 30)))
        remaining = end - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        final = status(url)
        rss_end = rss_mb(daemon.pid)
    finally:
        daemon.terminate()
        daemon.wait(60)
        sandbox.terminate()
        sandbox.wait(10)
    text = log_path.read_text(errors="replace")
    print(f"strategies {args.strategies}, {args.minutes} min, heartbeat every {args.interval} s")
    print(f"RSS start {rss_start:.1f} MB, end {rss_end:.1f} MB, growth {rss_end - rss_start:+.1f} MB")
    ok = sum(int(str(s["heartbeats_ok"])) for s in final)
    missed = sum(int(str(s["heartbeats_missed"])) for s in final)
    running = sum(1 for s in final if s["state"] == "running")
    print(f"heartbeats ok {ok}, missed {missed}; running at the end {running}/{len(final)}")
    for kind, seconds in recoveries:
        shown = "not recovered" if seconds is None else f"{seconds:.1f} s"
        print(f"recovery after {kind:7s}: {shown}")
    print(f"token in the captured logs: {TOKEN in text}; daemon exit code {daemon.returncode}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--strategies", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=10.0, help="heartbeat_interval_s")
    parser.add_argument("--fault-every", type=float, default=60.0)
    parser.add_argument("--downtime", type=float, default=15.0, help="seconds each fault lasts")
    main(parser.parse_args())
