"""Testing helpers for strategy authors: run one strategy as the daemon would, on a paper sandbox.

    async def test_buys_once(autojump_clock: trio.testing.MockClock) -> None:
        async with open_strategy_sandbox(BuyOnce, params={"quantity": 2}) as harness:
            await trio.sleep(30)                       # virtual time: returns at once
            assert harness.state == "running" and harness.restarts == 0
            pnl = await harness.client.get_run_pnl(harness.run_id)

Everything is real: a sandbox backend serving HTTP on ``127.0.0.1`` (a free port), a worker
client, the stream hub and the daemon's supervisor with its heartbeats, restart policy and
session handling. Only the strategy under test runs. Use it inside a trio test on virtual time
(pytest-trio's ``autojump_clock``): the sandbox's market and the daemon's schedules follow
trio's clock, so a test of minutes of trading takes a fraction of a second and asserts exact
times. Nothing is installed and no entry point is read: the class is passed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import trio

from ._config import RunSection, StrategyConfig, SupervisorSection
from ._plugins import ResolvedStrategy, params_model
from ._strategy import Strategy
from ._supervisor import ShutdownReport, Supervisor
from .client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from .hub import open_stream_hub
from .sandbox import SandboxHandle, serve_sandbox

__all__ = ["StrategyHarness", "open_strategy_sandbox"]

_TOKEN = "kwa_" + "t" * 43


@dataclass
class StrategyHarness:
    """What a test sees of the strategy under test: the ``sandbox`` (its ``state`` is the paper
    backend's, ``faults`` injects failures), a ``client`` of its own on the same token, the
    ``run_id`` and the daemon's view of the strategy (:attr:`state`, :attr:`restarts`...)."""

    sandbox: SandboxHandle
    client: AsyncKiteAlgoWorkerClient
    supervisor: Supervisor
    name: str
    run_id: str

    @property
    def state(self) -> str:
        """The runner's state: ``starting``, ``running``, ``backoff``, ``stalled``,
        ``quarantined``, ``stopped``, ``session_lost``, ``failed``..."""
        return self.supervisor.runners[self.name].state

    @property
    def restarts(self) -> int:
        """How many times the body crashed and was restarted."""
        return self.supervisor.runners[self.name].restarts

    @property
    def last_error(self) -> str | None:
        """The last crash as ``"Type: message"``, or None."""
        error: str | None = self.supervisor.runners[self.name].last_error
        return error

    @property
    def progress_count(self) -> int:
        """How many times the strategy called ``ctx.progress()`` (all its bodies together)."""
        return self.supervisor.runners[self.name].progress.count

    @property
    def progress_metrics(self) -> dict[str, Any]:
        """The metrics of the strategy's ``ctx.progress()`` calls, latest value per key."""
        return dict(self.supervisor.runners[self.name].progress.metrics)

    @property
    def intents(self) -> Counter[str]:
        """The strategy's intents by outcome (``accepted``, ``deduped``, ``error:<Type>``...)."""
        return self.supervisor.runners[self.name].intents

    async def stop(self) -> ShutdownReport:
        """Shut the daemon down as SIGTERM would (sets ``ctx.stopping``, waits the grace,
        releases the session). Blocks until done; idempotent."""
        return await self.supervisor.shutdown()


@asynccontextmanager
async def open_strategy_sandbox(
    strategy_cls: type[Strategy],
    *,
    params: Mapping[str, Any] | None = None,
    name: str = "under_test",
    run_id: str | None = None,
    execution_mode: Literal["paper", "dry_run"] = "paper",
    heartbeat_interval_s: float = 5.0,
    shutdown_grace_s: float = 5.0,
    max_restarts: int = 3,
) -> AsyncIterator[StrategyHarness]:
    """Serve a sandbox and host ``strategy_cls`` on it for the duration of the block.

    ``params`` are validated with the strategy's ``Params`` as the daemon validates YAML
    (``pydantic.ValidationError`` at once). Entering blocks until the sandbox listens and the
    supervisor started (the strategy acquires its run in its own task: sleep, or poll
    :attr:`StrategyHarness.state`); leaving shuts the daemon down (as :meth:`StrategyHarness.stop`)
    and closes the sandbox. Raises ``OSError`` when no loopback port can be bound.
    """
    model = params_model(strategy_cls).model_validate(dict(params or {}))
    config = StrategyConfig(
        name=name,
        plugin=name,
        run=RunSection(
            strategy_run_id=run_id or f"run-{name}",
            template_id="sandbox-test",
            account_scope="kite:paper-a",
            execution_mode=execution_mode,
        ),
        params=dict(params or {}),
    )
    settings = SupervisorSection.model_validate(
        {
            "heartbeat_interval_s": heartbeat_interval_s,
            "shutdown_grace_s": shutdown_grace_s,
            "restart": {
                "initial_backoff_s": 1,
                "max_backoff_s": 8,
                "max_restarts": max_restarts,
                "window_s": 60,
            },
        }
    )
    async with trio.open_nursery() as nursery:
        sandbox: SandboxHandle = await nursery.start(partial(serve_sandbox, token=_TOKEN))
        worker_config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
        async with (
            AsyncKiteAlgoWorkerClient(worker_config) as daemon_client,
            AsyncKiteAlgoWorkerClient(worker_config) as test_client,
            open_stream_hub(daemon_client) as hub,
        ):
            supervisor = Supervisor(
                [ResolvedStrategy(config, strategy_cls, model)],
                client=daemon_client,
                settings=settings,
                hub=hub,
                # the sandbox's clock (trio's, so autojump moves it): ctx.now() agrees with it
                wall_clock=lambda: sandbox.ctx.now().timestamp(),
            )
            await nursery.start(supervisor.serve)
            try:
                yield StrategyHarness(sandbox, test_client, supervisor, name, config.run.strategy_run_id)
            finally:
                with trio.CancelScope(shield=True):
                    await supervisor.shutdown()
        nursery.cancel_scope.cancel()
