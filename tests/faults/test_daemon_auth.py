"""Issue 11, failure 6: a refused token retried forever, one warning per strategy per cycle,
and the daemon never became ready nor said why.

Now one authenticated probe runs before any strategy starts: a refused token stops the daemon
with one clear line and exit code 4. A token refused later, while running, is one aggregated
line per cycle for all strategies. The token itself never reaches a log line."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from supervisor._config import SupervisorSection
from supervisor._metrics import SupervisorMetrics
from supervisor._supervisor import Supervisor
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.sandbox import SandboxHandle, serve_sandbox
from supervisor.sandbox._auth import hash_token
from tests.daemon.process import ROOT, install_plugins, subprocess_env

from .daemon_support import Idle, plugins, strategy

TOKEN = "kwa_" + "a" * 43
WRONG = "kwa_" + "w" * 43
FLEET = 20

CONFIG = """
backend: {base_url: URL, token: "${KITE_ALGO_WORKER_TOKEN}"}
supervisor:
  http: {host: 127.0.0.1, port: 0}
strategies:
"""


async def test_a_refused_token_stops_the_daemon_with_one_line_and_exit_code_4(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    sandbox: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN))
    text = CONFIG.replace("URL", sandbox.base_url) + "".join(
        f"  - {{name: s{i}, plugin: idle, run: {{strategy_run_id: run-{i}, template_id: t, "
        f'account_scope: "kite:paper-a"}}}}\n'
        for i in range(5)
    )
    config = tmp_path / "daemon.yaml"
    config.write_text(text)
    install_plugins(tmp_path / "site", plugins(idle="Idle"))
    with trio.fail_after(60):
        result = await trio.run_process(
            [sys.executable, "-m", "supervisor", "run", "--config", str(config)],
            capture_stdout=True,
            capture_stderr=True,
            env=subprocess_env(tmp_path / "site", KITE_ALGO_WORKER_TOKEN=WRONG),
            cwd=str(ROOT),
            check=False,
        )
    log = result.stderr.decode()
    assert result.returncode == 4, log  # EXIT_AUTH
    refused = [line for line in log.splitlines() if "refused the worker token" in line]
    assert len(refused) == 1, log
    assert "401 Invalid worker token" in refused[0] and "not starting 5 strategies" in refused[0]
    assert "KITE_ALGO_WORKER_TOKEN" in refused[0]
    assert WRONG not in log and TOKEN not in log
    assert sandbox.state.runs == {}  # no strategy touched the backend


@pytest.fixture
async def sandbox(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> SandboxHandle:
    handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN))
    return handle


@pytest.fixture
async def client(sandbox: SandboxHandle) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    async with AsyncKiteAlgoWorkerClient(AlgoWorkerConfig(base_url=sandbox.base_url, token=TOKEN)) as worker:
        yield worker


def revoke(sandbox: SandboxHandle) -> None:
    assert sandbox.ctx.tokens.revoke("worker_" + hash_token(TOKEN)[:16])


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "Invalid worker token" in r.getMessage()
    ]


@pytest.mark.parametrize("when", ["while running", "before the sessions"])
async def test_a_token_refused_later_is_one_line_per_cycle_for_the_whole_fleet(  # noqa: PLR0917
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: AsyncKiteAlgoWorkerClient,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    when: str,
) -> None:
    """Revoked while the heartbeats run (each beat refused), or before any session was
    obtained (each strategy's acquire refused, retried with backoff): 95 s, 20 strategies."""
    caplog.set_level(logging.INFO)
    sup = Supervisor(
        [strategy(f"s{i}", Idle) for i in range(FLEET)],
        client=client,
        settings=SupervisorSection(heartbeat_interval_s=5),
    )
    metrics = SupervisorMetrics(sup, process_collector=False)
    if when == "before the sessions":
        revoke(sandbox)
    await nursery.start(sup.serve)
    await trio.sleep(5)
    if when == "while running":
        assert all(r.state == "running" for r in sup.runners.values())
        revoke(sandbox)
    await trio.sleep(95)
    lines = refusal_lines(caplog)
    assert 1 <= len(lines) <= 4, "\n".join(lines[:10])  # one per 30 s cycle, not one per strategy
    assert all(f"for {FLEET} strategies" in line for line in lines), lines
    assert "check KITE_ALGO_WORKER_TOKEN" in lines[0]
    refusals = metrics.registry.get_sample_value("kite_supervisor_token_refusals_total")
    assert refusals is not None and refusals >= FLEET  # every refused request is still counted
    assert TOKEN not in caplog.text
    sup.request_shutdown()
    await sup.shutdown()
