"""Reload (SIGHUP / POST /reload): added strategies start, removed ones release their sessions,
changed ones are replaced, and unchanged ones keep their task and session untouched."""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from supervisor._commands import cmd_control
from supervisor._config import load_config, parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._plugins import PluginRegistry, ResolvedStrategy, SkippedStrategy, resolve_strategies

from .strategies import Idle, WithParams

HEAD = """
backend: {base_url: embedded}
supervisor:
  heartbeat_interval_s: 5
  shutdown_grace_s: 1
  release_timeout_s: 2
  http: {host: 127.0.0.1, port: 0, operator_token: op}
strategies:
"""
ONE = """  - name: {name}
    plugin: {plugin}
    run: {{strategy_run_id: run-{name}, template_id: t, account_scope: "kite:paper-a"}}
    params: {params}
"""
REGISTRY = PluginRegistry.from_classes({"idle": Idle, "ema": WithParams})
OPERATOR = {"Authorization": "Bearer op"}


def text(*strategies: tuple[str, str, str]) -> str:
    return HEAD + "".join(ONE.format(name=n, plugin=p, params=q) for n, p, q in strategies)


async def test_reload_changes_only_what_changed(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = [text(("keep", "idle", "{}"), ("gone", "idle", "{}"), ("tweak", "ema", "{symbol: INFY}"))]

    def load() -> tuple[list[ResolvedStrategy], list[SkippedStrategy]]:
        config, locator = parse_config(current[0], file="reload.yaml", environ={})
        return resolve_strategies(config, locator, REGISTRY)

    resolved, skipped = load()
    config, _ = parse_config(current[0], file="reload.yaml", environ={})
    handle: DaemonHandle = await nursery.start(
        partial(run_daemon, config, resolved, skipped=skipped, handle_signals=False, reload_strategies=load)
    )
    await trio.sleep(3)
    sup = handle.supervisor
    keep = sup.runners["keep"]
    keep_nonce = keep.nonce
    sandbox = handle.sandbox
    assert sandbox.state.runs["run-gone"].worker_session_nonce is not None
    current[0] = text(("keep", "idle", "{}"), ("tweak", "ema", "{symbol: TCS}"), ("new", "idle", "{}"))
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
        assert (await http.post("/reload")).status_code == 401
        accepted = await http.post("/reload", headers=OPERATOR)
        assert accepted.status_code == 202 and accepted.json()["result"] == "reloading"
        await trio.sleep(3)
        status = (await http.get("/status")).json()
    assert {s["name"]: s["state"] for s in status["strategies"]} == {
        "keep": "running",
        "tweak": "running",
        "new": "running",
    }
    expected = {"added": ["new"], "removed": ["gone"], "changed": ["tweak"], "unchanged": ["keep"],
                "skipped": [], "source": "POST /reload"}  # fmt: skip
    assert status["last_reload"] == expected
    assert sup.runners["keep"] is keep and keep.nonce == keep_nonce and keep.restarts == 0  # untouched
    assert sup.runners["tweak"].resolved.params.symbol == "TCS"  # type: ignore[attr-defined]
    assert sandbox.state.runs["run-gone"].worker_session_nonce is None  # released
    # a config that does not validate changes nothing, and says where it is wrong
    current[0] = text(("keep", "idle", "{}"), ("bad", "ema", "{fast: 3}")).replace(
        "heartbeat_interval_s: 5", "heartbeat_interval_s: 99"
    )
    # this time through the CLI verb, a blocking call in a thread: no virtual-time jump meanwhile
    monkeypatch.setenv("KITE_SUPERVISOR_OPERATOR_TOKEN", "op")
    out = io.StringIO()
    autojump_clock.autojump_threshold = 30.0
    try:
        args = argparse.Namespace(command="reload", url=handle.http_url)
        code = await trio.to_thread.run_sync(partial(cmd_control, args, out=out))
    finally:
        autojump_clock.autojump_threshold = 0.0
    assert (code, out.getvalue().strip()) == (0, "reload: reloading")
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
        await trio.sleep(2)
        status = (await http.get("/status")).json()
    assert len(status["strategies"]) == 3 and "reload.yaml:" in status["last_reload"]["error"]
    handle.request_shutdown()


@pytest.mark.slow
def test_sighup_reloads_a_real_daemon(tmp_path: Path) -> None:
    """SIGHUP to a `kite-supervisor run` process: the added strategy starts, the other keeps
    its session nonce (the state directory's record is not rewritten)."""
    config = tmp_path / "daemon.yaml"
    base = HEAD.replace("operator_token: op", "operator_token: op").replace(
        "{base_url: embedded}", "{base_url: embedded}"
    )
    body = ONE.format(name="basic", plugin="basic_equity", params="{symbol: INFY, quantity: 1}")
    config.write_text(base + body)
    log = tmp_path / "daemon.log"
    command = [
        sys.executable,
        "-m",
        "supervisor",
        "run",
        "--config",
        str(config),
        "--state-dir",
        str(tmp_path / "s"),
    ]
    with log.open("w") as sink:
        proc = subprocess.Popen(command, stderr=sink, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while "daemon ready" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)  # another process's log: nothing to wait on but the file
        record = (tmp_path / "s" / "runs" / "basic.json").read_text()
        added = ONE.format(name="second", plugin="basic_equity", params="{symbol: TCS, quantity: 1}")
        config.write_text(base + body + added)
        proc.send_signal(signal.SIGHUP)
        while "reload (SIGHUP): added second" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert (tmp_path / "s" / "runs" / "basic.json").read_text() == record  # same session
        url = next(
            line.split("HTTP on ")[1].split()[0]
            for line in log.read_text().splitlines()
            if "HTTP on " in line
        )
        states = {s["name"]: s["state"] for s in httpx.get(f"{url}/status", timeout=5).json()["strategies"]}
        assert set(states) == {"basic", "second"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert load_config(config, environ={})[0].strategies[1].name == "second"
