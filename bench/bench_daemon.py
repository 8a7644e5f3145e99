"""1,000 idle heartbeating strategies in one daemon vs the official SDK's process per worker.

In one run on this machine:

1. a standalone sandbox (``kite-supervisor sandbox --port 0``) is the backend for both sides;
2. the daemon (``kite-supervisor run``) hosts ``--strategies`` idle strategies, installed
   through a real entry point (a throwaway distribution on ``PYTHONPATH``), heartbeating every
   ``--interval`` seconds: time until ``/readyz``, RSS, idle CPU over ``--idle-seconds``; then
   SIGKILL and a new daemon on the same state directory: time until every strategy is
   re-attached; then SIGTERM: time until every session is released and the exit code;
3. ``--sdk-sample`` processes of the official SDK 0.7.4 (``client.run(config)`` plus a
   heartbeat every ``--interval`` seconds), the model the daemon replaces: their RSS, CPU and
   start time, extrapolated to ``--strategies`` workers;
4. the HTTP floor: the same heartbeats sent by a bare trio + httpx loop with no daemon around it,
   the least idle CPU any daemon built on this HTTP client could use.

Prints a table with the goals of issue 4. On demand only: ``python bench/bench_daemon.py``.
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

TOKEN = "kwa_" + "c" * 43
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

PLUGIN = '''
import trio
from supervisor import Strategy

class BenchIdle(Strategy):
    """Idle: waits for the stop signal."""

    async def run(self, ctx):
        await ctx.stopping.wait()
'''

SDK_WORKER = """
import signal, sys, time
from kite_algo_worker import AlgoWorkerConfig, KiteAlgoWorkerClient, RunConfig

stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
base, token, run_id, interval = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
client = KiteAlgoWorkerClient(AlgoWorkerConfig(base_url=base, token=token))
config = RunConfig(strategy_run_id=run_id, template_id="bench", account_scope="kite:paper-a",
                   execution_mode="dry_run")
with client.run(config) as run:
    print("ready", flush=True)
    next_beat = time.monotonic() + interval
    while not stop:
        time.sleep(min(0.5, max(0.0, next_beat - time.monotonic())))
        if time.monotonic() >= next_beat:
            run.heartbeat()
            next_beat += interval
"""

# The HTTP floor: the same heartbeats (n runs, same interval, random phases) from a bare loop of
# trio + httpx with no daemon around it. Prints its idle CPU in % of a core.
HTTP_FLOOR = """
import random, resource, sys, time
import httpx, trio

base, token = sys.argv[1], sys.argv[2]
n, interval, seconds = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

async def main():
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base + "/api/algo-workers", headers=headers) as http:
        nonces = {}
        gate = trio.CapacityLimiter(16)

        async def claim(i):
            run_id = f"bench-floor-{i:04d}"
            async with gate:
                body = {"strategy_run_id": run_id, "template_id": "bench", "account_scope": "kite:paper-a",
                        "execution_mode": "dry_run"}
                (await http.post("/worker/runs", json=body)).raise_for_status()
                claimed = await http.post(f"/worker/runs/{run_id}/claim-session")
                nonces[run_id] = claimed.raise_for_status().json()["worker_session_nonce"]

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(claim, i)

        async def beat(run_id, nonce, deadline):
            body = {"status": "healthy", "metrics": {"state": "running"}}
            while True:
                await trio.sleep_until(deadline)
                response = await http.post(f"/worker/runs/{run_id}/heartbeat", json=body,
                                           headers={"X-Worker-Session-Nonce": nonce})
                response.raise_for_status()
                deadline += interval

        rng = random.Random(1)
        async with trio.open_nursery() as nursery:
            now = trio.current_time()
            for run_id, nonce in nonces.items():
                nursery.start_soon(beat, run_id, nonce, now + rng.uniform(0, interval))
            await trio.sleep(interval)
            c0, t0 = cpu(), time.monotonic()
            await trio.sleep(seconds)
            print(100 * (cpu() - c0) / (time.monotonic() - t0), flush=True)
            nursery.cancel_scope.cancel()

trio.run(main)
"""


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_ready(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError("daemon did not become ready")


def start_daemon(cmd: list[str], env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the process for its lifetime
    proc = subprocess.Popen(cmd, env=env, stderr=log, stdout=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        match = re.search(r"HTTP on (http://127\.0\.0\.1:\d+)", log_path.read_text(errors="replace"))
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited: {log_path.read_text()[-2000:]}")
        time.sleep(0.05)
    raise TimeoutError("daemon did not bind its HTTP port")


def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-daemon-"))
    plugin_dir = work / "plugin"
    plugin_dir.mkdir()
    (plugin_dir / "bench_idle_plugin.py").write_text(PLUGIN)
    dist = plugin_dir / "bench_idle_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-idle-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[kite_algo_supervisor.strategies]\nbench_idle = bench_idle_plugin:BenchIdle\n"
    )

    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "supervisor",
            "--log-level",
            "WARNING",
            "sandbox",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--tick-interval",
            "60",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sandbox.stdout is not None
    base = sandbox.stdout.readline().strip()
    results: dict[str, tuple[str, str, str]] = {}
    try:
        n = args.strategies
        strategies = "".join(
            f"  - {{name: s{i:04d}, plugin: bench_idle, "
            f"run: {{strategy_run_id: bench-d-{i:04d}, template_id: bench, "
            f'account_scope: "kite:paper-a", execution_mode: dry_run}}}}\n'
            for i in range(n)
        )
        config = work / "daemon.yaml"
        config.write_text(
            textwrap.dedent(
                f"""\
                backend: {{base_url: "{base}", token: "${{KITE_ALGO_WORKER_TOKEN}}"}}
                supervisor:
                  heartbeat_interval_s: {args.interval}
                  startup_concurrency: {args.startup_concurrency}
                  gc_freeze: {args.gc_freeze == "on"}
                  shutdown_grace_s: 1
                  release_timeout_s: 5
                  state_dir: {work / "state"}
                  http: {{host: 127.0.0.1, port: 0}}
                strategies:
                """
            )
            + strategies
        )
        env = {
            **os.environ,
            "KITE_ALGO_WORKER_TOKEN": TOKEN,
            "PYTHONPATH": os.pathsep.join([str(plugin_dir), os.environ.get("PYTHONPATH", "")]),
        }
        cmd = [sys.executable, "-m", "supervisor", "--log-level", "INFO", "run", "--config", str(config)]

        t0 = time.monotonic()
        daemon, url = start_daemon(cmd, env, work / "daemon-1.log")
        wait_ready(url, t0 + 300)
        start_s = time.monotonic() - t0
        time.sleep(2)
        rss = rss_bytes(daemon.pid)
        c0 = cpu_seconds(daemon.pid)
        time.sleep(args.idle_seconds)
        cpu_pct = 100 * (cpu_seconds(daemon.pid) - c0) / args.idle_seconds
        status = httpx.get(url + "/status", timeout=10).json()
        beats = sum(s["heartbeats_ok"] for s in status["strategies"])
        missed = sum(s["heartbeats_missed"] for s in status["strategies"])

        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        t1 = time.monotonic()
        log_path = work / "daemon-2.log"
        daemon, url = start_daemon(cmd, env, log_path)
        wait_ready(url, t1 + 120)
        reattach_s = time.monotonic() - t1
        status = httpx.get(url + "/status", timeout=10).json()
        recovered = sum(1 for s in status["strategies"] if s["recovered"] and s["state"] == "running")
        claims = len(re.findall(r"session claimed", log_path.read_text()))

        t2 = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(60)
        release_s = time.monotonic() - t2

        mb = 1024 * 1024
        results = {
            "RSS": (f"{rss / mb:.0f} MB", "-", "goal <= 300 MB"),
            "idle CPU": (f"{cpu_pct:.1f} % of a core", "-", "goal <= 10 %"),
            "start all": (f"{start_s:.1f} s", "-", ""),
            "re-attach after SIGKILL": (
                f"{reattach_s:.2f} s ({recovered}/{n} recovered, {claims} claims)",
                "-",
                "goal <= 5 s",
            ),
            "release on SIGTERM": (f"{release_s:.2f} s (exit {code})", "-", "goal <= 3 s"),
            "heartbeats while idle": (f"{beats} ok, {missed} missed", "-", ""),
        }
        if args.daemon_only:
            report(args, results, work)
            return

        # the HTTP floor: the same heartbeats from a bare trio + httpx loop
        floor_cmd = [sys.executable, "-c", HTTP_FLOOR, base, TOKEN]
        floor = subprocess.run(
            [*floor_cmd, str(n), str(args.interval), str(args.idle_seconds)],
            capture_output=True,
            text=True,
            check=True,
        )
        floor_cpu_pct = float(floor.stdout.strip())

        # the official SDK: one process per worker
        k = args.sdk_sample
        procs = []
        t3 = time.monotonic()
        for i in range(k):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", SDK_WORKER, base, TOKEN, f"bench-sdk-{i:04d}", str(args.interval)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        sdk_start_s = time.monotonic() - t3
        time.sleep(2)
        sdk_rss = sum(rss_bytes(p.pid) for p in procs) / k
        s0 = sum(cpu_seconds(p.pid) for p in procs)
        time.sleep(args.idle_seconds)
        sdk_cpu_pct = 100 * (sum(cpu_seconds(p.pid) for p in procs) - s0) / args.idle_seconds / k
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)

        results = {
            "RSS": (
                f"{rss / mb:.0f} MB",
                f"{sdk_rss * n / mb:.0f} MB ({sdk_rss / mb:.1f} MB x {n})",
                f"{sdk_rss * n / rss:.0f}x less (goal <= 300 MB, >= 100x)",
            ),
            "idle CPU": (
                f"{cpu_pct:.1f} % of a core",
                f"{sdk_cpu_pct * n:.1f} % ({sdk_cpu_pct:.3f} % x {n})",
                "goal <= 10 %",
            ),
            "idle CPU, HTTP floor": (
                f"{floor_cpu_pct:.1f} % (bare trio + httpx loop, same heartbeats)",
                "-",
                f"daemon = {cpu_pct / floor_cpu_pct:.2f}x the floor",
            ),
            "start all": (
                f"{start_s:.1f} s",
                f"{sdk_start_s / k * n:.0f} s serial ({sdk_start_s:.1f} s for {k})",
                "",
            ),
            "re-attach after SIGKILL": (
                f"{reattach_s:.2f} s ({recovered}/{n} recovered, {claims} claims)",
                "-",
                "goal <= 5 s",
            ),
            "release on SIGTERM": (f"{release_s:.2f} s (exit {code})", "-", "goal <= 3 s"),
            "heartbeats while idle": (f"{beats} ok, {missed} missed", "-", ""),
        }
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(30)
    report(args, results, work)


def report(args: argparse.Namespace, results: dict[str, tuple[str, str, str]], work: Path) -> None:
    print(f"\n{args.strategies} idle strategies, heartbeat every {args.interval:g} s")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"startup_concurrency {args.startup_concurrency}, gc_freeze {args.gc_freeze};",
        f"load average at the end {load} (1/5/15 min)",
    )
    if not args.daemon_only:
        print(f"official SDK measured on {args.sdk_sample} real worker processes")
    print("| measure | daemon (1 process) | official SDK (1 process/worker, extrapolated) | ratio / goal |")
    print("|---|---|---|---|")
    for name, (ours, sdk, note) in results.items():
        print(f"| {name} | {ours} | {sdk} | {note} |")
    print(f"\nlogs in {work}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--sdk-sample", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--startup-concurrency", type=int, default=16, help="supervisor.startup_concurrency")
    parser.add_argument("--gc-freeze", choices=("on", "off"), default="on", help="supervisor.gc_freeze")
    parser.add_argument("--daemon-only", action="store_true", help="skip the HTTP floor and the SDK")
    main(parser.parse_args())
