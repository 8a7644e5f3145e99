"""A REAL Prometheus scrapes a real daemon's /metrics; the test reads a metric back through
Prometheus's HTTP API. Real seconds (~5-10 s): marked ``prometheus`` and ``slow``."""

from __future__ import annotations

import shutil
import socket
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from .test_metrics import start_daemon

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed"),
]

ONE = """
backend: {base_url: embedded}
supervisor:
  heartbeat_interval_s: 1
  shutdown_grace_s: 2
  release_timeout_s: 2
  http: {host: 127.0.0.1, port: 0}
  money: {interval_s: 1}
strategies:
  - name: calm
    plugin: idle
    run: {strategy_run_id: run-calm, template_id: t, account_scope: "kite:paper-a"}
"""


def free_port() -> int:
    # Prometheus needs a concrete listen port; the tiny race with another binder is acceptable
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def query(http: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    response = await http.get("/api/v1/query", params={"query": expr})
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


async def test_prometheus_scrapes_the_daemon_and_answers_queries(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(40):
        handle, done = await start_daemon(nursery, ONE)
        target = handle.http_url.removeprefix("http://")
        prom_port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: kite-supervisor\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        (tmp_path / "data").mkdir()
        process = await nursery.start(
            partial(
                trio.run_process,
                [
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--log.level=warn",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{prom_port}", timeout=5) as http:
                running: list[dict[str, Any]] = []
                while not running:
                    await trio.sleep(0.5)  # polling an external process; bounded by fail_after
                    try:
                        running = await query(
                            http, 'kite_supervisor_strategy_state{strategy="calm",state="running"} == 1'
                        )
                    except httpx.TransportError:
                        continue  # Prometheus still starting
                assert running[0]["metric"]["job"] == "kite-supervisor"
                assert running[0]["metric"]["instance"] == target
                up = await query(http, 'up{job="kite-supervisor"}')
                assert up[0]["value"][1] == "1"
                beats: list[dict[str, Any]] = []
                while not beats:
                    await trio.sleep(0.5)
                    beats = await query(http, 'kite_supervisor_run_heartbeats_total{outcome="ok"} > 0')
                assert beats[0]["metric"]["strategy"] == "calm"
                money: list[dict[str, Any]] = []
                while not money:  # the cockpit's first read of the run's P&L, then a scrape
                    await trio.sleep(0.5)
                    money = await query(http, 'kite_supervisor_strategy_net_pnl_inr{strategy="calm"}')
                assert money[0]["value"][1] == "0"  # idle: no order, no charges
                held = await query(http, 'kite_supervisor_strategy_open_positions{strategy="calm"}')
                assert held[0]["value"][1] == "0"
                lag = await query(http, "kite_supervisor_event_loop_lag_seconds_count")
                assert lag == [] or float(lag[0]["value"][1]) >= 0  # fed once DAEMON starts the probe
        finally:
            process.terminate()
            handle.request_shutdown()
        await done.wait()
