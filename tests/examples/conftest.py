"""Fixtures for the example plugins: a real sandbox in the test's trio run (virtual time), a
worker client on it, and a helper that hosts plugins in a real :class:`Supervisor`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from supervisor import Strategy, Supervisor
from supervisor._config import RunSection, StrategyConfig, SupervisorSection
from supervisor._plugins import ResolvedStrategy
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.sandbox import SandboxHandle, serve_sandbox

TOKEN = "kwa_" + "e" * 43


@pytest.fixture
async def sandbox(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> SandboxHandle:
    """Tests using this fixture must also take ``autojump_clock`` (pytest-trio rule)."""
    handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN))
    return handle


def make_client(base_url: str, token: str) -> AsyncKiteAlgoWorkerClient:
    """A worker client of its own (another worker, or the one a test's supervisor uses)."""
    return AsyncKiteAlgoWorkerClient(AlgoWorkerConfig(base_url=base_url, token=token))


@pytest.fixture
async def client(sandbox: SandboxHandle) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    worker = make_client(sandbox.base_url, sandbox.token)
    yield worker
    await worker.aclose()


def settings() -> SupervisorSection:
    return SupervisorSection.model_validate(
        {
            "heartbeat_interval_s": 5,
            "shutdown_grace_s": 3,
            "release_timeout_s": 2,
            "restart": {"initial_backoff_s": 1, "max_backoff_s": 8, "max_restarts": 2, "window_s": 60},
        }
    )


def hosted(
    name: str,
    cls: type[Strategy],
    *,
    params: dict[str, Any] | None = None,
    mode: str = "paper",
    run_id: str | None = None,
    account_scope: str = "kite:paper-a",
    metadata: dict[str, Any] | None = None,
) -> ResolvedStrategy:
    """One strategy as the daemon would resolve it from a config entry."""
    config = StrategyConfig(
        name=name,
        plugin=name,
        run=RunSection.model_validate(
            {
                "strategy_run_id": run_id or f"run-{name}",
                "template_id": name,
                "account_scope": account_scope,
                "execution_mode": mode,
                "metadata": metadata or {},
            }
        ),
        params=params or {},
    )
    return ResolvedStrategy(config, cls, cls.Params.model_validate(config.params))


async def start_supervisor(
    nursery: trio.Nursery, client: Any, *strategies: ResolvedStrategy, hub: Any = None
) -> Supervisor:
    sup = Supervisor(list(strategies), client=client, settings=settings(), hub=hub)
    await nursery.start(sup.serve)
    return sup


def decisions(sandbox: SandboxHandle, run_id: str) -> list[dict[str, Any]]:
    """The run's decision events as stored by the sandbox."""
    return [e for e in sandbox.state.timeline.by_run.get(run_id, []) if e.get("event_kind") == "decision"]


def intent_keys(sandbox: SandboxHandle, run_id: str) -> list[str]:
    return sorted(key for (rid, key) in sandbox.state.intents if rid == run_id)
