"""Fixtures: a real sandbox on 127.0.0.1:<free port> in the test's trio run, on virtual time,
and helpers to build strategies and supervisors without installing a distribution."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from supervisor._config import RunSection, StrategyConfig, SupervisorSection
from supervisor._plugins import ResolvedStrategy
from supervisor._strategy import Strategy
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.sandbox import SandboxHandle, serve_sandbox

TOKEN = "kwa_" + "d" * 43


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


def settings(**overrides: Any) -> SupervisorSection:
    base: dict[str, Any] = {
        "heartbeat_interval_s": 5,
        "shutdown_grace_s": 3,
        "release_timeout_s": 2,
        "standby_poll_s": 5,
        "restart": {"initial_backoff_s": 1, "max_backoff_s": 8, "max_restarts": 3, "window_s": 60},
    }
    base.update(overrides)
    return SupervisorSection.model_validate(base)


def resolved(
    name: str, cls: type[Strategy], *, run_id: str | None = None, params: dict[str, Any] | None = None
) -> ResolvedStrategy:
    config = StrategyConfig(
        name=name,
        plugin=name,
        run=RunSection(
            strategy_run_id=run_id or f"run-{name}",
            template_id="tmpl",
            account_scope="kite:paper-a",
            execution_mode="paper",
        ),
        params=params or {},
    )
    return ResolvedStrategy(config, cls, cls.Params.model_validate(config.params))
