"""Paper runs end to end: fills, idempotency under concurrency, order inspection, stale auto-exit,
protection-triggered exits and restarts with open positions."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle, serve_sandbox

from .conftest import TOKEN, api_client


def _order(symbol: str = "INFY", side: str = "BUY", qty: int = 1, **extra: Any) -> dict[str, Any]:
    base = {"exchange": "NSE", "tradingsymbol": symbol, "transaction_type": side, "variety": "regular",
            "product": "CNC", "order_type": "MARKET", "quantity": qty, "validity": "DAY"}  # fmt: skip
    return {**base, **extra}


def _intent(key: str, order: dict[str, Any]) -> dict[str, Any]:
    return {"intent_type": "place_order", "payload": {"order": order}, "idempotency_key": key, "metadata": {}}


async def _paper_run(api: httpx.AsyncClient, run_id: str, **extra: Any) -> None:
    body = {
        "strategy_run_id": run_id,
        "template_id": "t",
        "account_scope": "kite:paper-a",
        "execution_mode": "paper",
    }
    r = await api.post("/worker/runs", json={**body, **extra})
    assert r.status_code == 200, r.text


async def _buy(api: httpx.AsyncClient, run_id: str, key: str, **hdr: str) -> dict[str, Any]:
    r = await api.post(f"/worker/runs/{run_id}/intents", json=_intent(key, _order()), headers=hdr)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_fill_replay_and_concurrent_same_key(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(60):
        await _paper_run(api, "run_p")
        first = await _buy(api, "run_p", "run_p:entry:001")
        assert first["status"] == "accepted" and first["result"]["status"] == "filled"
        assert first["result"]["order"]["order_id"].startswith("PAPER-")
        assert (await _buy(api, "run_p", "run_p:entry:001")) == {
            "status": "deduped",
            "result": first["result"],
        }
        statuses: list[str] = []

        async def send() -> None:
            statuses.append((await _buy(api, "run_p", "run_p:entry:002"))["status"])

        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(send)
        assert sorted(statuses) == ["accepted"] + ["deduped"] * 5
        orders = (await api.get("/worker/orders", params={"strategy_run_id": "run_p"})).json()["orders"]
        assert len(orders) == 2 and {o["status"] for o in orders} == {"COMPLETE"}
        pnl = (await api.get("/worker/runs/run_p/pnl")).json()
        assert pnl["position_count"] == 1 and pnl["legs"][0]["net_quantity"] == 2
        executions = (await api.get("/worker/runs/run_p/execution-events")).json()["events"]
        assert [e["event_type"] for e in executions] == ["order.updated", "order.updated"]
        assert set(executions[0]) == {"cursor", "strategy_run_id", "account_id", "basket_execution_id",
                                      "event_type", "payload", "created_at"}  # fmt: skip


async def test_resting_limit_modify_cancel(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(60):
        await _paper_run(api, "run_l")
        price = float((await _buy(api, "run_l", "run_l:probe:01"))["result"]["order"]["average_price"])
        limit = _order(order_type="LIMIT", price=round(price * 0.5, 1))
        r = await api.post("/worker/runs/run_l/intents", json=_intent("run_l:limit:01", limit))
        result = r.json()["result"]
        assert result["status"] == "accepted" and result["order"]["status"] == "open"
        order_id = result["order"]["order_id"]
        one = (await api.get(f"/worker/orders/{order_id}", params={"strategy_run_id": "run_l"})).json()
        assert one["order"]["status"] == "OPEN"
        r = await api.post(
            f"/worker/orders/{order_id}/modify",
            json={"strategy_run_id": "run_l", "price": round(price * 0.6, 1)},
        )
        assert r.status_code == 200, r.text
        r = await api.post(f"/worker/orders/{order_id}/cancel", json={"strategy_run_id": "run_l"})
        assert r.json() == {
            "strategy_run_id": "run_l",
            "order_id": order_id,
            "result": {"order_id": order_id},
        }
        one = (await api.get(f"/worker/orders/{order_id}", params={"strategy_run_id": "run_l"})).json()
        assert one["order"]["status"] == "CANCELLED"
        r = await api.get("/worker/orders/PAPER-NOPE", params={"strategy_run_id": "run_l"})
        assert r.status_code == 404


async def test_released_paper_run_is_flattened_after_180s(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(900):
        await _paper_run(api, "run_s")
        nonce = (await api.post("/worker/runs/run_s/claim-session")).json()["worker_session_nonce"]
        hdr = {"X-Worker-Session-Nonce": nonce}
        await api.post("/worker/runs/run_s/heartbeat", json={}, headers=hdr)
        await _buy(api, "run_s", "run_s:entry:001", **hdr)
        await api.delete("/worker/runs/run_s/claim-session", headers=hdr)
        await trio.sleep(175)
        assert (await api.get("/worker/runs/run_s")).json()["status"] == "open"
        await trio.sleep(40)
        doc = (await api.get("/worker/runs/run_s")).json()
        assert doc["status"] == "closed"
        assert doc["runtime_state"]["runtime_recovery"]["reason"] == "paper_stale_exit_closed"
        pnl = (await api.get("/worker/runs/run_s/pnl")).json()
        assert pnl["legs"] == []


async def test_position_stoploss_triggers_exit(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(300):
        await _paper_run(api, "run_x")
        price = float((await _buy(api, "run_x", "run_x:entry:001"))["result"]["order"]["average_price"])
        protection = {
            "enabled": True,
            "positions": [{"symbol": "NSE:INFY", "product": "CNC", "side": "BUY", "quantity": 1,
                           "entry_price": round(price * 2, 2), "stoploss_pct": 2.0}],
        }  # fmt: skip
        r = await api.patch("/worker/runs/run_x/protection", json={"backend_protection": protection})
        assert r.status_code == 200, r.text
        await trio.sleep(6)
        doc = (await api.get("/worker/runs/run_x")).json()
        state = doc["runtime_state"]["backend_protection_state"]
        assert state["triggered_rule"] == "position_stoploss" and state["exit_submitted"] is True
        assert doc["status"] == "closed"
        assert (await api.get("/worker/runs/run_x/pnl")).json()["legs"] == []


async def test_restart_keeps_positions(tmp_path: Path, autojump_clock: MockClock) -> None:
    db = str(tmp_path / "paper.db")
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN, db_path=db))
            async with api_client(handle) as api:
                await _paper_run(api, "run_r")
                await _buy(api, "run_r", "run_r:entry:001")
                before = (await api.get("/worker/runs/run_r/pnl")).json()
            nursery.cancel_scope.cancel()
        async with trio.open_nursery() as nursery:
            handle = await nursery.start(partial(serve_sandbox, token=TOKEN, db_path=db))
            async with api_client(handle) as api:
                after = (await api.get("/worker/runs/run_r/pnl")).json()
                assert after["position_count"] == before["position_count"] == 1
                assert after["legs"][0]["average_price"] == before["legs"][0]["average_price"]
                orders = (await api.get("/worker/orders", params={"strategy_run_id": "run_r"})).json()[
                    "orders"
                ]
                assert len(orders) == 1
            nursery.cancel_scope.cancel()
