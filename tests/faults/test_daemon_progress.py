"""Issue 11, failure 4: a hung strategy looked healthy.

The age of each strategy's last ``ctx.progress()`` is in ``/status`` and the metrics; past its
optional ``progress_deadline_s`` the strategy is reported ``stalled`` (state, metric, a decision
event on the run's timeline) and, with ``restart_on_stall``, restarted. The daemon never records
progress itself: only the strategy's own ``ctx.progress()`` counts."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from functools import partial

import pytest
import trio
import trio.testing

from supervisor._config import RestartConfig, SupervisorSection
from supervisor._metrics import SupervisorMetrics
from supervisor._supervisor import Supervisor
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.sandbox import SandboxHandle, serve_sandbox

from .daemon_support import Idle, ProgressOnceThenHangs, strategy

TOKEN = "kwa_" + "p" * 43
SETTINGS = SupervisorSection(
    heartbeat_interval_s=5,
    restart=RestartConfig(initial_backoff_s=1, max_backoff_s=8, max_restarts=3, window_s=600),
)


@pytest.fixture
async def sandbox(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> SandboxHandle:
    handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN))
    return handle


@pytest.fixture
async def client(sandbox: SandboxHandle) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    async with AsyncKiteAlgoWorkerClient(AlgoWorkerConfig(base_url=sandbox.base_url, token=TOKEN)) as worker:
        yield worker


def value(metrics: SupervisorMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"kite_supervisor_{name}", labels)


async def test_a_hung_strategy_is_reported_stalled_past_its_progress_deadline(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: AsyncKiteAlgoWorkerClient,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    ProgressOnceThenHangs.starts = 0
    sup = Supervisor(
        [strategy("hung", ProgressOnceThenHangs, progress_deadline_s=30), strategy("calm", Idle)],
        client=client,
        settings=SETTINGS,
    )
    metrics = SupervisorMetrics(sup, process_collector=False)
    await nursery.start(sup.serve)
    runner = sup.runners["hung"]
    await trio.sleep(1)
    started = runner.progress.last_at
    assert started is not None
    await trio.sleep(9)
    hung = sup.status()["strategies"][0]
    assert hung["progress_age_s"] == pytest.approx(trio.current_time() - started, abs=0.01)
    assert hung["progress_count"] == 1 and hung["progress_deadline_s"] == 30
    assert value(metrics, "strategy_progress_age_seconds", strategy="hung") == pytest.approx(
        hung["progress_age_s"]
    )
    assert hung["state"] == "running"
    await trio.sleep_until(started + 30.5)
    assert runner.state == "stalled"
    assert "no progress for 30s (progress_deadline_s=30)" in (runner.reason or "")
    assert value(metrics, "strategy_state", strategy="hung", plugin="hung", state="stalled") == 1
    assert value(metrics, "strategy_stalls_total", strategy="hung") == 1
    events = sandbox.state.timeline.by_run["run-hung"]
    assert [e["event_type"] for e in events] == ["decision.note"]
    assert "strategy stalled" in events[0]["summary"]
    assert events[0]["payload"]["metadata"]["progress_deadline_s"] == 30
    # not restarted without restart_on_stall; the calm strategy is untouched; no fake progress
    await trio.sleep(60)
    assert ProgressOnceThenHangs.starts == 1 and runner.restarts == 0
    assert runner.state == "stalled" and runner.stalls == 1 and runner.progress.count == 1
    assert sup.runners["calm"].state == "running"
    assert value(metrics, "strategy_stalls_total", strategy="calm") == 0
    assert "strategy stalled: no progress for 30s" in caplog.text
    await sup.shutdown()


async def test_restart_on_stall_restarts_the_body_through_the_restart_policy(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: AsyncKiteAlgoWorkerClient,
    autojump_clock: trio.testing.MockClock,
) -> None:
    ProgressOnceThenHangs.starts = 0
    sup = Supervisor(
        [strategy("hung", ProgressOnceThenHangs, progress_deadline_s=20, restart_on_stall=True)],
        client=client,
        settings=SETTINGS,
        rng=random.Random(1),
    )
    await nursery.start(sup.serve)
    runner = sup.runners["hung"]
    await trio.sleep(1)
    first = runner.progress.last_at
    assert first is not None and ProgressOnceThenHangs.starts == 1
    await trio.sleep_until(first + 20.5)
    assert runner.stalls == 1 and runner.restarts == 1
    assert runner.state == "backoff" and "stalled: no progress for 20s" in (runner.reason or "")
    await trio.sleep(3)  # the policy's first backoff (1 s, jittered)
    assert ProgressOnceThenHangs.starts == 2 and runner.state == "running"
    assert sandbox.state.runs["run-hung"].worker_session_nonce == runner.nonce  # same session
    # each stall is a crash for the policy: a body that keeps stalling ends quarantined
    await trio.sleep(200)
    assert runner.state == "quarantined" and runner.restarts == 4
    assert sandbox.state.runs["run-hung"].worker_session_nonce is None


async def test_progress_after_a_stall_returns_the_strategy_to_running(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: AsyncKiteAlgoWorkerClient,
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = Supervisor([strategy("slow", Idle, progress_deadline_s=0.5)], client=client, settings=SETTINGS)
    await nursery.start(sup.serve)
    runner = sup.runners["slow"]
    await trio.sleep(0.9)  # Idle reports every second: late by half a second each time
    assert runner.state == "stalled"
    await trio.sleep(0.2)
    assert runner.state == "running" and runner.reason is None
    await sup.shutdown()
