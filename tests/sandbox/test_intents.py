"""Intents: validation order, dry_run results, idempotent replays (also concurrent), safety tokens."""

from __future__ import annotations

import httpx
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle

ORDER = {
    "exchange": "NSE",
    "tradingsymbol": "INFY",
    "transaction_type": "BUY",
    "variety": "regular",
    "product": "CNC",
    "order_type": "MARKET",
    "quantity": 1,
    "validity": "DAY",
}


def _intent(key: str, **extra: object) -> dict[str, object]:
    return {
        "intent_type": "place_order",
        "payload": {"order": ORDER},
        "idempotency_key": key,
        "metadata": {},
        **extra,
    }


async def _dry_run(api: httpx.AsyncClient, run_id: str = "run_d") -> None:
    body = {
        "strategy_run_id": run_id,
        "template_id": "t",
        "account_scope": "kite:paper-a",
        "execution_mode": "dry_run",
    }
    assert (await api.post("/worker/runs", json=body)).status_code == 200


async def test_dry_run_intent_and_replay(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(30):
        await _dry_run(api)
        r = await api.post("/worker/runs/run_d/intents", json=_intent("run_d:entry:001"))
        assert r.status_code == 200
        first = r.json()
        assert first["status"] == "accepted"
        result = first["result"]
        assert result["mode"] == "dry_run" and result["status"] == "validated"
        assert result["mutated_state"] is False and result["payload"] == {"order": ORDER}
        assert result["attribution"]["idempotency_key"] == "run_d:entry:001"
        # a replay with a different body returns the stored result
        r = await api.post(
            "/worker/runs/run_d/intents", json={**_intent("run_d:entry:001"), "intent_type": "x"}
        )
        assert r.json() == {"status": "deduped", "result": result}
        # the key is per run
        await _dry_run(api, "run_e")
        r = await api.post("/worker/runs/run_e/intents", json=_intent("run_d:entry:001"))
        assert r.json()["status"] == "accepted"


async def test_concurrent_same_key_executes_once(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        await _dry_run(api)
        before = sandbox.state.executions
        statuses: list[str] = []

        async def send() -> None:
            r = await api.post("/worker/runs/run_d/intents", json=_intent("same-key-0001"))
            statuses.append(r.json()["status"])

        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(send)
        assert sorted(statuses) == ["accepted"] + ["deduped"] * 7
        assert sandbox.state.executions == before + 1


async def test_validation_and_guards(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(30):
        await _dry_run(api)
        r = await api.post("/worker/runs/run_d/intents", json=_intent("short"))
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "idempotency_key"]
        r = await api.post("/worker/runs/nope/intents", json=_intent("k-12345678"))
        assert r.status_code == 404
        # an invalid safety token is refused after the replay check
        r = await api.post("/worker/runs/run_d/intents", json=_intent("k-12345678", safety_token="garbage"))
        assert r.status_code == 409
        detail = r.json()["detail"]
        assert detail == {
            "rejection_reason": "SAFETY_TOKEN_EXPIRED",
            "blocking_reasons": ["SAFETY_STATE_UNKNOWN"],
            "strategy_run_id": "run_d",
        }
        # the failure did not consume the key
        r = await api.post("/worker/runs/run_d/intents", json=_intent("k-12345678"))
        assert r.json()["status"] == "accepted"


async def test_safety_token_lifecycle(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(60):
        await _dry_run(api)
        safety = (await api.get("/worker/runs/run_d/safety-check")).json()
        # the reference server's keys, execution_mode included (contract §4.4, §11 #1)
        assert safety["execution_mode"] == "dry_run"
        assert safety["can_trade"] is True and safety["blocking_reasons"] == []
        token = safety["safety_token"]
        r = await api.post("/worker/runs/run_d/intents", json=_intent("k-00000001", safety_token=token))
        assert r.json()["status"] == "accepted"
        # reusable within its life
        r = await api.post("/worker/runs/run_d/intents", json=_intent("k-00000002", safety_token=token))
        assert r.json()["status"] == "accepted"
        await trio.sleep(11)
        r = await api.post("/worker/runs/run_d/intents", json=_intent("k-00000003", safety_token=token))
        assert r.status_code == 409
        assert r.json()["detail"]["blocking_reasons"] == ["SAFETY_STATE_UNKNOWN"]
        # the replay check comes first: an expired token still gets the stored result
        r = await api.post("/worker/runs/run_d/intents", json=_intent("k-00000001", safety_token=token))
        assert r.json()["status"] == "deduped"
        # a state change invalidates a fresh token: exit closes a dry_run run
        token = (await api.get("/worker/runs/run_d/safety-check")).json()["safety_token"]
        r = await api.post(
            "/worker/runs/run_d/exit", json={"reason": "done", "idempotency_key": None, "dry_run": False}
        )
        assert r.json()["status"] == "closed" and r.json()["run"]["status"] == "closed"
        r = await api.post("/worker/runs/run_d/intents", json=_intent("k-00000004", safety_token=token))
        assert r.status_code == 409
        assert r.json() == {"detail": "Worker intents can only be submitted for open strategy runs"}
        safety = (await api.get("/worker/runs/run_d/safety-check")).json()
        assert safety["can_trade"] is False and safety["blocking_reasons"] == ["RUN_NOT_OPEN"]
        assert safety["safety_token"] is None
