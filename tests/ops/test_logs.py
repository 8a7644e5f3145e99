"""Logs from a strategy carry its name and run id (human and JSON), and never the token."""

from __future__ import annotations

import json
import logging
from functools import partial

import pytest
import trio
import trio.testing

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._logging import _HumanFormatter, _JsonFormatter, _RedactingFilter
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._strategy import Strategy, StrategyContext

TOKEN = "kwa_" + "T" * 43


class Chatty(Strategy):
    """Logs through ctx.log, crashes on its first run (the runner logs that), then idles."""

    async def run(self, ctx: StrategyContext) -> None:
        ctx.log.info("hello from %s with token %s", ctx.name, TOKEN)  # a careless plugin
        if not ctx.recovered:  # the restart after this crash runs recovered
            raise RuntimeError("first run fails")
        await ctx.stopping.wait()


CONFIG = """
backend: {base_url: embedded}
supervisor:
  heartbeat_interval_s: 5
  shutdown_grace_s: 1
  release_timeout_s: 2
  http: {host: 127.0.0.1, port: 0}
  restart: {initial_backoff_s: 1, max_backoff_s: 2, max_restarts: 5, window_s: 60}
strategies:
  - name: chat-a
    plugin: chatty
    run: {strategy_run_id: run-chat-a, template_id: t, account_scope: "kite:paper-a"}
  - name: chat-b
    plugin: chatty
    run: {strategy_run_id: run-chat-b, template_id: t, account_scope: "kite:paper-a"}
"""
STRATEGY_LOGGERS = ("supervisor.strategy", "supervisor.runner")
DAEMON_LOGGERS = ("supervisor.daemon", "supervisor.http")


async def test_strategy_lines_carry_name_and_run_id_and_never_the_token(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config, locator = parse_config(CONFIG, file="logs.yaml", environ={})
    resolved, skipped = resolve_strategies(config, locator, PluginRegistry.from_classes({"chatty": Chatty}))
    handle: DaemonHandle = await nursery.start(
        partial(run_daemon, config, resolved, skipped=skipped, handle_signals=False)
    )
    await trio.sleep(12)
    handle.request_shutdown()
    await trio.sleep(5)
    # everything the daemon logs except its own process-level lines is about one strategy
    records = [
        r
        for r in caplog.records
        if r.name.startswith("supervisor.")
        and r.name not in DAEMON_LOGGERS
        and not r.name.startswith("supervisor.sandbox")
    ]
    assert set(STRATEGY_LOGGERS) <= {r.name for r in records}
    assert any("hello from chat-a" in r.getMessage() for r in records)
    assert any(r.exc_info for r in records)  # the crash, with its traceback
    human, as_json, redact = _HumanFormatter(), _JsonFormatter(), _RedactingFilter()
    for record in records:
        name = record.getMessage().split("hello from ")[-1].split(" ")[0]
        assert getattr(record, "strategy", None) in ("chat-a", "chat-b"), record.getMessage()
        assert getattr(record, "run_id", None) == "run-" + record.strategy, record.getMessage()  # type: ignore[attr-defined]
        redact.filter(record)
        line = human.format(record)
        assert f" strategy={record.strategy} run_id=run-{record.strategy}" in line  # type: ignore[attr-defined]
        doc = json.loads(as_json.format(record))
        assert doc["strategy"] == record.strategy and doc["run_id"] == "run-" + record.strategy  # type: ignore[attr-defined]
        assert TOKEN not in line and TOKEN not in json.dumps(doc), name
