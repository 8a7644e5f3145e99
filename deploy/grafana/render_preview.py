#!/usr/bin/env python3
"""A picture of the Grafana dashboard drawn from real data, without a Grafana server.

    .venv/bin/python deploy/grafana/render_preview.py [--seconds 90] [--restart NAME]

Starts a real daemon with ``deploy/examples.yaml`` on the embedded paper sandbox (a free
loopback port) and a real Prometheus scraping it every second (tmp storage, loopback only),
lets them run for ``--seconds`` (dropping a few signal files into the signal strategy's inbox
and asking the daemon for one operator restart on the way), then runs every panel's PromQL
from ``kite-supervisor.json`` against Prometheus's HTTP API and lays the answers out on one
HTML page by each panel's ``gridPos``: hand-drawn SVG lines, stat values, tables. Headless
chromium screenshots the page into ``dashboard-preview.png`` next to this file. The daemon is
stopped with SIGTERM and must exit 0.

This is not Grafana: it draws what the queries return in a Grafana-like dark theme. The pure
parts (variable substitution, the grid layout, axis ticks, value formats, SVG paths) are
in ``preview_page.py`` (unit-tested in ``tests/ops/test_render_preview.py``); the script itself is
run by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from preview_page import PAGE_WIDTH, Series, Window, legend, render_page, substitute, template_values

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DASHBOARD = HERE / "dashboards" / "kite-supervisor.json"
CONFIG = ROOT / "deploy" / "examples.yaml"
OUTPUT = HERE / "dashboard-preview.png"
OPERATOR = secrets.token_urlsafe(24)


# -- I/O: the daemon, Prometheus, chromium -------------------------------------------------------
def free_port() -> int:
    # Prometheus needs a concrete listen port; the tiny race with another binder is acceptable
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(what: str, check: Callable[[], bool], timeout: float, alive: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if alive.poll() is not None:
            raise SystemExit(f"{what}: the process exited with {alive.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)  # polling another process, bounded by the deadline


def _stop(proc: subprocess.Popen[Any], timeout: float) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            return -9
    return proc.returncode


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    inbox: Path


@contextmanager
def open_daemon(work: Path) -> Iterator[Daemon]:
    """``kite-supervisor run --config deploy/examples.yaml`` on the embedded sandbox, HTTP on a
    free loopback port; SIGTERM on exit, which must end it with status 0."""
    prefixes = ("KITE_ALGO_", "SIGNAL_", "KITE_SUPERVISOR_")  # never a real backend or token
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    inbox = work / "inbox"
    inbox.mkdir()
    # a throwaway operator token of this run's own: the restart below is an operator action
    env |= {
        "KITE_SUPERVISOR_HTTP_PORT": "0",
        "SIGNAL_INBOX": str(inbox),
        "KITE_SUPERVISOR_OPERATOR_TOKEN": OPERATOR,
    }
    log = work / "daemon.log"
    command = [str(Path(sys.executable).parent / "kite-supervisor"), "run", "--config", str(CONFIG)]
    with log.open("wb") as sink:  # a file, not a pipe: nobody has to keep draining it
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=work)
    url: list[str] = []

    def announced() -> bool:
        match = re.search(r"HTTP on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        url.extend([match.group(1)] if match else [])
        return bool(match)

    try:
        _wait_for("daemon HTTP", announced, 60, proc)
        yield Daemon(proc, url[0], log, inbox)
    finally:
        code = _stop(proc, 60)
        if code != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise SystemExit(f"the daemon exited with {code} after SIGTERM:\n{tail}")
        print(f"daemon stopped (exit 0): {log.read_text().splitlines()[-1]}")


@contextmanager
def open_prometheus(work: Path, target: str) -> Iterator[str]:
    """A real Prometheus scraping ``target`` every second; yields its base URL."""
    port = free_port()
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: kite-supervisor\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    command = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
               f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
    with (work / "prometheus.log").open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(base + "/-/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _wait_for("Prometheus ready", ready, 30, proc)
        yield base
    finally:
        _stop(proc, 20)


def exercise(daemon: Daemon, seconds: float, restart: str) -> None:
    """Let the fleet run; a few signals for the signal strategy and one operator restart."""
    started = time.monotonic()
    events = [(seconds * 0.3, "signal"), (seconds * 0.45, "restart"), (seconds * 0.6, "signal"),
              (seconds * 0.75, "signal")]  # fmt: skip
    count = 0
    while (elapsed := time.monotonic() - started) < seconds:
        if daemon.proc.poll() is not None:
            raise SystemExit(f"the daemon exited early ({daemon.proc.returncode}); see {daemon.log}")
        while events and events[0][0] <= elapsed:
            _, what = events.pop(0)
            if what == "restart" and restart:
                headers = {"Authorization": f"Bearer {OPERATOR}"}
                response = httpx.post(
                    f"{daemon.url}/strategies/{restart}/restart", headers=headers, timeout=5
                )
                print(f"{elapsed:5.1f} s  POST /strategies/{restart}/restart -> {response.status_code}")
            elif what == "signal":
                count += 1
                body = {"signal_id": f"preview-{count}", "symbol": "INFY",
                        "side": "BUY" if count % 2 else "SELL", "quantity": 1}  # fmt: skip
                staged = daemon.inbox / f".preview-{count}.json"  # write, then rename: atomic
                staged.write_text(json.dumps(body))
                staged.rename(daemon.inbox / f"preview-{count}.json")
                print(f"{elapsed:5.1f} s  signal preview-{count} dropped into the inbox")
        time.sleep(0.5)


def first_scrape(base: str, start: float, end: float) -> float:
    """When Prometheus first scraped the daemon: the charts start there, not at its launch."""
    params: dict[str, str | float] = {
        "query": 'up{job="kite-supervisor"}',
        "start": start,
        "end": end,
        "step": 1,
    }
    response = httpx.get(f"{base}/api/v1/query_range", params=params, timeout=10)
    response.raise_for_status()
    result = response.json()["data"]["result"]
    return float(result[0]["values"][0][0]) if result else start


def query_panels(base: str, dashboard: Mapping[str, Any], window: Window) -> dict[int, list[Series]]:
    """Every panel's targets against Prometheus: ranges for time series, instants otherwise."""
    builtins = {
        "__rate_interval": "15s",
        "__interval": f"{window.step:g}s",
        "__range": f"{window.end - window.start:.0f}s",
        "__range_s": f"{window.end - window.start:.0f}",
    }
    values = template_values(dashboard, builtins)
    results: dict[int, list[Series]] = {}
    with httpx.Client(base_url=base, timeout=10) as http:
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expr = substitute(target["expr"], values)
                if panel["type"] == "timeseries":
                    params: dict[str, str | float] = {
                        "query": expr,
                        "start": window.start,
                        "end": window.end,
                        "step": window.step,
                    }
                    response = http.get("/api/v1/query_range", params=params)
                else:
                    response = http.get("/api/v1/query", params={"query": expr, "time": window.end})
                response.raise_for_status()
                for item in response.json()["data"]["result"]:
                    raw = item["values"] if "values" in item else [item["value"]]
                    samples = [(float(t), float(v)) for t, v in raw]
                    name = legend(target.get("legendFormat", ""), item["metric"])
                    results.setdefault(panel["id"], []).append(Series(name, item["metric"], samples))
    for series in results.values():
        series.sort(key=lambda s: s.name)
    return results


def screenshot(page: Path, png: Path, height: int, work: Path) -> None:
    command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={work / 'chromium'}",
               f"--window-size={PAGE_WIDTH},{height}", f"--screenshot={png}", page.as_uri()]  # fmt: skip
    png.unlink(missing_ok=True)
    subprocess.run(command, check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not png.exists():
        raise SystemExit("chromium wrote no screenshot")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=90, help="how long the fleet runs (default 90)")
    parser.add_argument("--restart", default="meanrev-infy-1m", help="strategy to restart once ('' for none)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the PNG (default: next to this script)")
    parser.add_argument("--html", type=Path, help="also keep the HTML page here (default: a tmp dir)")
    args = parser.parse_args(argv)
    dashboard = json.loads(DASHBOARD.read_text())
    with tempfile.TemporaryDirectory(prefix="kite-preview-") as tmp:
        work = Path(tmp)
        with open_daemon(work) as daemon, open_prometheus(work, daemon.url.removeprefix("http://")) as prom:
            print(f"daemon {daemon.url}, Prometheus {prom}; running for {args.seconds:g} s")
            start = time.time()
            exercise(daemon, args.seconds, args.restart)
            end = time.time()
            start = first_scrape(prom, start, end)
            window = Window(start, end, step=max(1.0, round((end - start) / 150)))
            results = query_panels(prom, dashboard, window)
        stamp = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d %H:%M UTC")
        caption = (
            f"Last {end - start:.0f} s ({stamp}) · drawn by deploy/grafana/render_preview.py from this "
            "dashboard's own queries against a real Prometheus scraping a real daemon "
            "(deploy/examples.yaml, embedded paper sandbox) · not rendered by Grafana"
        )
        page, height = render_page(dashboard, results, window, caption)
        html_path = args.html or work / "dashboard-preview.html"
        html_path.write_text(page)
        screenshot(html_path, args.output, height, work)
    empty = [p["title"] for p in dashboard["panels"] if p["type"] != "row" and p["id"] not in results]
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KiB, 1600x{height})")
    print(f"panels without data: {', '.join(empty) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
