"""The blocking client: derived surface, streams as iterators, managed run release, close."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator

import pytest

from supervisor.client import (
    AlgoWorkerConfig,
    AsyncKiteAlgoWorkerClient,
    KiteAlgoWorkerClient,
    NotFoundError,
    RunConfig,
    StreamIdleTimeout,
)
from supervisor.sandbox import SandboxHandle
from tests.sandbox.threaded import sandbox_thread


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with sandbox_thread(token="kwa_" + "y" * 43) as handle:
        yield handle


def test_surface_is_derived_from_the_async_client(sandbox: SandboxHandle) -> None:
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
    with KiteAlgoWorkerClient(config) as client:
        for name, _fn in inspect.getmembers(AsyncKiteAlgoWorkerClient, inspect.iscoroutinefunction):
            if not name.startswith("_"):
                assert callable(getattr(client, name)), name
        assert sandbox.token not in repr(client)
        with pytest.raises(NotFoundError):
            client.get_run("run_absent_01")
    assert not any(t.name == "kite-algo-client" and t.is_alive() for t in threading.enumerate())


def test_sync_stream_idle_timeout_and_managed_release(sandbox: SandboxHandle) -> None:
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
    with KiteAlgoWorkerClient(config, stream_idle_timeout=0.5) as client:
        client.create_run(
            strategy_run_id="run_sync_idle1",
            template_id="t",
            account_scope="kite:paper-a",
            execution_mode="dry_run",
        )
        with pytest.raises(StreamIdleTimeout), client.stream_timeline("run_sync_idle1") as events:
            for _ in events:
                pass
        cfg = RunConfig(strategy_run_id="run_sync_man01", template_id="t", execution_mode="paper")
        with pytest.raises(RuntimeError, match="boom"), client.run(cfg) as run:
            assert run.session_nonce and run.run_id == "run_sync_man01"
            assert run.client is client  # the blocking client, never the async one
            assert run.refresh()["strategy_run_id"] == "run_sync_man01"  # a blocking call
            raise RuntimeError("boom")
        assert not client.get_run("run_sync_man01").get("worker_session_nonce")
