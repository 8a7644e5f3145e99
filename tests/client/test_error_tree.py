"""The error tree against the sandbox: each status and rejection_reason of the contract maps to
its class (contract §1.4, §1.5, §4.3, §4.4), and the token never shows in what is raised."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from supervisor.client import (
    APIError,
    AsyncKiteAlgoWorkerClient,
    BrokerValidationError,
    ConflictError,
    KiteAlgoWorkerError,
    SafetyTokenExpiredError,
    ServerError,
    SessionConflictError,
    SessionRequiredError,
    equity_market_order,
)
from supervisor.sandbox import SandboxHandle

from .conftest import TOKEN


async def _paper_run(client: AsyncKiteAlgoWorkerClient, run_id: str) -> None:
    await client.create_run(
        strategy_run_id=run_id, template_id="t", account_scope="kite:paper-a", execution_mode="paper"
    )


async def test_409s_map_by_rejection_reason(
    client: AsyncKiteAlgoWorkerClient, autojump_clock: trio.testing.MockClock
) -> None:
    run_id = "run_tree_409"
    order = equity_market_order("INFY", "BUY", 1)
    with trio.fail_after(60):
        await _paper_run(client, run_id)
        closed = "run_tree_closed"
        await client.create_run(
            strategy_run_id=closed, template_id="t", account_scope="kite:paper-a", execution_mode="dry_run"
        )
        await client.exit_run(closed)
        with pytest.raises(ConflictError) as duplicate:  # plain 409: a string detail
            await client.place_order(closed, order, idempotency_key=f"{closed}:e:1")
        assert type(duplicate.value) is ConflictError and duplicate.value.rejection_reason is None
        assert "open strategy runs" in str(duplicate.value)

        safety = await client.safety_check(run_id)
        await trio.sleep(11)  # safety tokens live 10 s (contract §4.4)
        with pytest.raises(SafetyTokenExpiredError) as expired:
            await client.place_order(
                run_id, order, idempotency_key=f"{run_id}:e:1", safety_token=safety.safety_token
            )
        assert expired.value.status_code == 409
        assert expired.value.rejection_reason == "SAFETY_TOKEN_EXPIRED"
        # the recommended recovery: a fresh safety check, never the stale token again
        fresh = await client.safety_check(run_id)
        placed = await client.place_order(
            run_id, order, idempotency_key=f"{run_id}:e:1", safety_token=fresh.safety_token
        )
        assert placed["status"] == "accepted"

        claim = await client.claim_session(run_id)
        with pytest.raises(SessionRequiredError) as required:
            await client.patch_risk(run_id, {"max_loss": 1.0})
        assert required.value.rejection_reason == "WORKER_SESSION_REQUIRED"
        with pytest.raises(SessionConflictError) as conflict:
            await client.run_heartbeat(run_id, session_nonce="wsn_" + "0" * 32)
        assert conflict.value.rejection_reason == "WORKER_SESSION_CONFLICT"
        await client.release_session(run_id, session_nonce=claim["worker_session_nonce"])
    for err in (duplicate.value, expired.value, required.value, conflict.value):
        assert isinstance(err, ConflictError) and isinstance(err, APIError)
        assert isinstance(err, KiteAlgoWorkerError) and isinstance(err, RuntimeError)


async def test_422_is_a_validation_error(
    client: AsyncKiteAlgoWorkerClient, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        await _paper_run(client, "run_tree_422")
        with pytest.raises(BrokerValidationError) as invalid:
            await client.list_timeline("run_tree_422", limit=5000)  # limit is 1..1000
    assert invalid.value.status_code == 422
    assert isinstance(invalid.value.response_body["detail"], list)  # FastAPI's list form


async def test_server_echoing_the_token_is_masked(
    client: AsyncKiteAlgoWorkerClient, sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    sandbox.faults.add(path="/worker/health", status=500, detail=f"bad bearer {TOKEN} here", times=1)
    with trio.fail_after(30), pytest.raises(ServerError) as failed:
        await client.health()
    assert failed.value.status_code == 500
    assert TOKEN not in str(failed.value) and TOKEN not in repr(failed.value)
    assert str(failed.value) == "bad bearer *** here"
