"""The cockpit in a real daemon: money per strategy in /status, the console's pages, notices."""

from __future__ import annotations

import argparse
import io
import logging
from functools import partial
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from supervisor._commands import EXIT_ATTENTION, cmd_status
from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._plugins import PluginRegistry, resolve_strategies

from .receiver import Receiver
from .strategies import BuyOnce, CrashAtOnce

CONFIG = """
backend: {{base_url: embedded}}
supervisor:
  heartbeat_interval_s: 5
  shutdown_grace_s: 2
  release_timeout_s: 2
  http: {{host: 127.0.0.1, port: 0}}
  restart: {{initial_backoff_s: 1, max_backoff_s: 2, max_restarts: 1, window_s: 60}}
  money: {{interval_s: 2}}
notifications:
  webhooks: ["{hook}"]
strategies:
  - name: buyer
    plugin: buy
    run: {{strategy_run_id: run-buyer, template_id: t, account_scope: "kite:paper-a"}}
  - name: crasher
    plugin: crash
    run: {{strategy_run_id: run-crasher, template_id: t, account_scope: "kite:paper-a"}}
"""
REGISTRY = PluginRegistry.from_classes({"buy": BuyOnce, "crash": CrashAtOnce})


async def test_money_console_and_notices(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    receiver = Receiver(200)
    hook = await receiver.start(nursery)
    config, locator = parse_config(CONFIG.format(hook=hook + "/hook"), file="cockpit.yaml", environ={})
    resolved, skipped = resolve_strategies(config, locator, REGISTRY)
    done = trio.Event()

    async def run(*, task_status: trio.TaskStatus[DaemonHandle]) -> None:
        await run_daemon(config, resolved, skipped=skipped, handle_signals=False, task_status=task_status)
        done.set()

    handle: DaemonHandle = await nursery.start(run)
    await trio.sleep(12)
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
        status = (await http.get("/status")).json()
        by_name = {s["name"]: s for s in status["strategies"]}
        money: dict[str, Any] = by_name["buyer"]["money"]
        assert money["run_id"] == "run-buyer" and money["error"] is None
        assert [(p["symbol"], p["net_quantity"]) for p in money["positions"]] == [("NSE:INFY", 2)]
        assert money["charges"] > 0 and money["last_order"]["status"] == "filled"
        assert by_name["crasher"]["state"] == "quarantined"
        index = await http.get("/ui")
        assert index.headers["content-type"].startswith("text/html")
        assert 'href="/ui/strategies/buyer"' in index.text and "s-quarantined" in index.text
        assert "https://" not in index.text  # nothing fetched from elsewhere
        page = await http.get("/ui/strategies/buyer")
        assert page.status_code == 200 and "NSE:INFY" in page.text and "<svg" in page.text
        assert "bought 2 INFY" in page.text  # the strategy's own log tail
        assert (await http.get("/ui/strategies/nobody")).status_code == 404
    # the terminal's view: a table with the money, and a non-zero exit for the quarantined one
    out = io.StringIO()
    args = argparse.Namespace(url=handle.http_url)
    autojump_clock.autojump_threshold = 30.0  # a blocking CLI call: no virtual jump meanwhile
    try:
        code = await trio.to_thread.run_sync(partial(cmd_status, args, out=out))
    finally:
        autojump_clock.autojump_threshold = 0.0
    table = out.getvalue().splitlines()
    assert code == EXIT_ATTENTION and table[-1] == "needs attention: crasher"
    buyer_row = next(line for line in table if line.startswith("buyer"))
    assert table[0].split()[:5] == ["NAME", "STATE", "MODE", "NET", "P&L"]
    assert "BUY 2 NSE:INFY filled" in buyer_row and buyer_row.split()[4] == "1"  # one open position
    kinds: list[str] = []
    with trio.fail_after(30):
        while not {"daemon_start", "fill", "quarantine"} <= set(kinds):
            kinds.append((await receiver.received.receive())[1]["kind"])
    handle.request_shutdown()
    with trio.fail_after(60):
        await done.wait()
        while "daemon_stop" not in kinds:
            kinds.append((await receiver.received.receive())[1]["kind"])
    assert kinds.count("fill") == 1 and kinds.index("daemon_start") == 0
    assert f"{hook}/hook" not in caplog.text  # the webhook URL is a secret too


BREAKER = """
backend: {{base_url: embedded}}
supervisor:
  heartbeat_interval_s: 5
  http: {{host: 127.0.0.1, port: 0}}
  money: {{interval_s: 1}}
notifications:
  webhooks: ["{hook}"]
strategies:
  - name: loser
    plugin: buy
    run: {{strategy_run_id: run-loser, template_id: t, account_scope: "kite:paper-a"}}
    loss_breaker: {{max_loss_inr: 0.01}}   # the entry's charges alone cross it
  - name: calm
    plugin: buy
    run: {{strategy_run_id: run-calm, template_id: t, account_scope: "kite:paper-a"}}
"""


async def test_the_loss_breaker_pauses_notes_and_notifies_but_never_exits(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(200)
    hook = await receiver.start(nursery)
    config, locator = parse_config(BREAKER.format(hook=hook + "/hook"), file="breaker.yaml", environ={})
    resolved, skipped = resolve_strategies(config, locator, REGISTRY)
    handle: DaemonHandle = await nursery.start(
        partial(run_daemon, config, resolved, skipped=skipped, handle_signals=False)
    )
    with trio.fail_after(60):
        while (await receiver.received.receive())[1]["kind"] != "loss_breaker":
            pass
    await trio.sleep(1)
    runners = handle.supervisor.runners
    assert runners["loser"].state == "paused" and runners["calm"].state == "running"
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
        status = (await http.get("/status")).json()
    money = {s["name"]: s["money"] for s in status["strategies"]}
    assert money["loser"]["loss_breaker"]["limit"] == 0.01 and "loss_breaker" not in money["calm"]
    assert money["loser"]["positions"][0]["net_quantity"] == 2  # paused, nothing exited
    sandbox = handle.sandbox
    run = sandbox.state.runs["run-loser"]
    assert run.status == "open" and run.worker_session_nonce == runners["loser"].nonce  # session kept
    backend = f"{sandbox.base_url}/api/algo-workers/worker"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {sandbox.token}"}, timeout=10) as api:
        events = (await api.get(f"{backend}/runs/run-loser/timeline")).json()["events"]
    assert any(e["summary"].startswith("supervisor: loss breaker tripped") for e in events)
    orders = [o for o in sandbox.engine.book.orders if o["metadata"]["strategy_run_id"] == "run-loser"]
    assert [o["transaction_type"] for o in orders] == ["buy"]  # no exit of the daemon's own
    await trio.sleep(5)
    assert runners["loser"].state == "paused"  # trips once; resuming is the operator's call
    handle.request_shutdown()
