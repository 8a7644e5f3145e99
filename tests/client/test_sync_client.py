"""The blocking client: derived surface, streams as iterators, managed run release, close, and a
synchronous hosted child attached to its parent's session."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisor.client import (
    AlgoWorkerConfig,
    AsyncKiteAlgoWorkerClient,
    KiteAlgoWorkerClient,
    ManagedRun,
    NotFoundError,
    PermissionDeniedError,
    RunConfig,
    StreamIdleTimeout,
    equity_market_order,
    hosted_context,
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


def upstream_style_main(ctx: Any) -> Any:
    """A synchronous hosted strategy as the upstream SDK's child runs it: ``main(ctx)``."""
    ctx.run.heartbeat()
    order = equity_market_order(ctx.params["symbol"], "BUY", 1)
    return ctx.run.place_order(order, idempotency_key=f"{ctx.run_id}:entry:1")


def test_sync_hosted_child_runs_an_upstream_style_main(sandbox: SandboxHandle, tmp_path: Path) -> None:
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
    run_id = "run_sync_host01"
    with KiteAlgoWorkerClient(config) as parent:
        parent.create_run(
            strategy_run_id=run_id,
            template_id="hosted-demo",
            account_scope="kite:paper-a",
            execution_mode="paper",
        )
        nonce = parent.claim_session(run_id)["worker_session_nonce"]
        environ = {
            "KITE_ALGO_BASE_URL": sandbox.base_url,
            "KITE_ALGO_WORKER_TOKEN": sandbox.token,
            "KITE_ALGO_RUN_ID": run_id,
            "KITE_ALGO_SESSION_NONCE": nonce,
            "KITE_ALGO_TEMPLATE_ID": "hosted-demo",
            "KITE_ALGO_ACCOUNT_SCOPE": "kite:paper-a",
            "KITE_ALGO_PARAMS": '{"symbol": "TCS"}',
            "KITE_ALGO_SCRATCH": str(tmp_path),
        }
        with hosted_context(environ) as ctx:
            assert isinstance(ctx.run, ManagedRun) and ctx.run.client is ctx.client  # blocking, not async
            assert ctx.run.session_nonce == nonce and ctx.execution_mode == "paper"
            placed = upstream_style_main(ctx)
            with pytest.raises(PermissionDeniedError):  # the sandbox hosts no child attempt
                ctx.progress("started")
        assert placed["result"]["status"] == "filled"
        assert parent.get_run(run_id)["worker_session_nonce"] == nonce  # never re-claimed
        assert parent.release_session(run_id, session_nonce=nonce)["status"] == "released"
