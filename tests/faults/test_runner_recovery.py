"""Issue 11: the runner obtained its session with a backoff of up to 30 s and retried every
client error, a 404 or a refused token included, for ever.

Now the runner acts on the class :func:`~supervisor.client._errors.classify_error` gives an
error met while obtaining the session: transient (no answer, 5xx, 503, 429) is retried with
a short jittered backoff (at most 4 s) that honours ``Retry-After``, so a strategy is back
within seconds of the backend answering; a 4xx about the run (a 404) puts the strategy in a
clear ``failed`` state at once, until an operator restarts it; a refused token (401/403) keeps
its long cycle and the aggregated log line (``test_daemon_auth.py``). Each failure is counted
by class in ``sessions.acquire_errors``.

Virtual time, a real sandbox over loopback; its fault rules are the backend failing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest
import trio
import trio.testing

from supervisor._config import SupervisorSection
from supervisor._supervisor import HEARTBEATS_IN_FLIGHT, Supervisor
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.sandbox import SandboxHandle, serve_sandbox

from .daemon_support import Idle, strategy

TOKEN = "kwa_" + "r" * 43
FLEET = 20
BACK_WITHIN_S = 6.0  # the first heartbeat after the backend answers again


@pytest.fixture
async def sandbox(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> SandboxHandle:
    """Tests using this fixture must also take ``autojump_clock`` (pytest-trio rule)."""
    handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN))
    return handle


@pytest.fixture
async def client(sandbox: SandboxHandle) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    async with AsyncKiteAlgoWorkerClient(AlgoWorkerConfig(base_url=sandbox.base_url, token=TOKEN)) as worker:
        yield worker


def heartbeated(sandbox: SandboxHandle) -> set[str]:
    """The runs the backend has received a heartbeat for (its own record, not ours)."""
    return {run_id for run_id, run in sandbox.state.runs.items() if run.last_heartbeat_at is not None}


async def test_a_fleet_started_during_a_40s_outage_heartbeats_within_6s_of_the_backend_answering(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: AsyncKiteAlgoWorkerClient,
    autojump_clock: trio.testing.MockClock,
) -> None:
    await sandbox.faults.restart(downtime_s=40)  # every request answered 503 for 40 s
    up_at = trio.current_time() + 40
    sup = Supervisor(
        [strategy(f"s{i}", Idle) for i in range(FLEET)],
        client=client,
        settings=SupervisorSection(heartbeat_interval_s=10),
    )
    await nursery.start(sup.serve)
    await trio.sleep_until(up_at - 0.01)
    assert heartbeated(sandbox) == set()
    assert all(r.state == "starting" for r in sup.runners.values())

    await trio.sleep_until(up_at + BACK_WITHIN_S)
    # on the backend's own record: every run has been heartbeated since it answers again
    assert heartbeated(sandbox) == {f"run-s{i}" for i in range(FLEET)}
    assert all(r.state == "running" for r in sup.runners.values())
    for runner in sup.runners.values():
        errors = runner.sessions.acquire_errors
        # retried about every 4 s, not hammered and not given up: 40 s of 503 is transient
        assert set(errors) == {"transient"} and 8 <= errors["transient"] <= 25, errors
        assert runner.restarts == 0
    sup.request_shutdown()
    await sup.shutdown()


async def test_a_429_retry_after_is_honoured_while_obtaining_the_session(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: AsyncKiteAlgoWorkerClient,
    autojump_clock: trio.testing.MockClock,
) -> None:
    rule = sandbox.faults.add(
        method="GET", path="/worker/runs/run-slow", status=429, retry_after_s=20, times=2
    )
    sup = Supervisor([strategy("slow", Idle)], client=client, settings=SupervisorSection())
    started = trio.current_time()
    await nursery.start(sup.serve)
    runner = sup.runners["slow"]
    await trio.sleep_until(started + 19.9)
    assert rule.fired == 1  # nothing sent before the server said to come back
    assert runner.state == "starting"
    # two 20 s waits (each stretched by at most a quarter, never shortened), then the session
    await trio.sleep_until(started + 2 * 20 * 1.25 + 1)
    assert rule.fired == 2 and runner.state == "running"
    assert runner.sessions.acquire_errors == {"transient": 2}
    assert "run-slow" in heartbeated(sandbox)
    sup.request_shutdown()
    await sup.shutdown()


async def test_a_404_on_the_run_fails_the_strategy_once_and_is_not_retried(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: AsyncKiteAlgoWorkerClient,
    autojump_clock: trio.testing.MockClock,
) -> None:
    rule = sandbox.faults.add(
        method="POST", path="/worker/runs/run-gone/claim-session", status=404, detail="Strategy run not found"
    )
    sup = Supervisor(
        [strategy("gone", Idle), strategy("fine", Idle)], client=client, settings=SupervisorSection()
    )
    await nursery.start(sup.serve)
    gone, fine = sup.runners["gone"], sup.runners["fine"]
    await trio.sleep(300)
    assert rule.fired == 1  # asked once; the same request gets the same answer
    assert gone.state == "failed" and gone.reason is not None
    assert "HTTP 404" in gone.reason and "not retried" in gone.reason
    assert gone.sessions.acquire_errors == {"request": 1}
    assert gone.quarantines == 0 and gone.restarts == 0
    assert fine.state == "running"  # one strategy's permanent error is its own

    # fixed on the backend, an operator restarts it: it obtains its session at once
    sandbox.faults.remove(rule.id)
    assert gone.request_restart() == "restarting"
    await trio.sleep(5)
    assert gone.state == "running" and "run-gone" in heartbeated(sandbox)
    sup.request_shutdown()
    await sup.shutdown()


class InFlight(httpx.AsyncBaseTransport):
    """A real loopback transport that records the most heartbeats it had in flight at once."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.now = self.most = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        beat = request.url.path.endswith("/heartbeat")
        self.now += beat
        self.most = max(self.most, self.now)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.now -= beat

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_beats_due_together_wait_in_the_daemon_not_in_the_connection_pool(
    nursery: trio.Nursery, sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    # a slow backend and a fleet whose beats come due together (as after an outage): at most
    # HEARTBEATS_IN_FLIGHT reach the client, the rest queue in the supervisor's limiter
    transport = InFlight()
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=TOKEN)
    async with AsyncKiteAlgoWorkerClient(config, transport=transport) as worker:
        sup = Supervisor(
            [strategy(f"s{i}", Idle) for i in range(FLEET * 2)],
            client=worker,
            settings=SupervisorSection(heartbeat_interval_s=10),
        )
        await nursery.start(sup.serve)
        await trio.sleep(1)  # every session claimed (each claim beats once, outside the limit)
        assert all(r.state == "running" for r in sup.runners.values())
        sandbox.faults.add(path="/worker/runs/*/heartbeat", latency_s=0.5)
        transport.most = 0
        await trio.sleep(25)
        assert transport.most == HEARTBEATS_IN_FLIGHT
        assert all(r.heartbeats.ok >= 2 and r.heartbeats.missed == 0 for r in sup.runners.values())
        sup.request_shutdown()
        await sup.shutdown()
