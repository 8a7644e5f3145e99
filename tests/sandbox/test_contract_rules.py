"""Reference-server rules checked over loopback: GTT accounts, funds scope checks, history
windows, decision-event references (contract §4.10, §4.12, §4.13, §4.14)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle

from .conftest import api_client

LEG = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1,
       "order_type": "LIMIT", "product": "CNC", "price": 1.0}  # fmt: skip
GTT = {"type": "single", "condition": {"exchange": "NSE", "tradingsymbol": "INFY",
       "trigger_values": [1.0], "last_price": 2.0}, "orders": [LEG]}  # fmt: skip


async def test_gtts_belong_to_the_tokens_account(
    api: httpx.AsyncClient, sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        a, b = (
            sandbox.mint_token(account_scope="kite:paper-a"),
            sandbox.mint_token(account_scope="kite:paper-b"),
        )
        async with api_client(sandbox, a) as api_a, api_client(sandbox, b) as api_b:
            mine = (await api_a.post("/worker/gtt/triggers", json=GTT)).json()["trigger_id"]
            theirs = (await api_b.post("/worker/gtt/triggers", json=GTT)).json()["trigger_id"]
            assert [g["id"] for g in (await api_a.get("/worker/gtt/triggers")).json()] == [mine]
            assert [g["id"] for g in (await api_b.get("/worker/gtt/triggers")).json()] == [theirs]
            for request in (
                api_a.get(f"/worker/gtt/triggers/{theirs}"),
                api_a.put(f"/worker/gtt/triggers/{theirs}", json=GTT),
                api_a.delete(f"/worker/gtt/triggers/{theirs}"),
            ):
                r = await request
                assert r.status_code == 404
                assert r.json()["detail"]["rejection_reason"] == "GTT_TRIGGER_NOT_FOUND"
            assert (await api_b.get(f"/worker/gtt/triggers/{theirs}")).json()["status"] == "active"
            # the sandbox's own token has the sandbox's scope, kite:paper-a: a's account
            assert [g["id"] for g in (await api.get("/worker/gtt/triggers")).json()] == [mine]
            bad = await api_a.get("/worker/gtt/triggers/abc")
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "trigger_id"]


async def test_gtts_need_a_token_with_a_paper_scope(
    sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        tokens = {
            "unscoped": sandbox.mint_token(account_scope=None),
            "live": sandbox.mint_token(account_scope="kite:AB1234"),
        }
        async with api_client(sandbox, tokens["unscoped"]) as unscoped:
            r = await unscoped.get("/worker/gtt/triggers")
            assert r.status_code == 403
            assert r.json() == {"detail": {"rejection_reason": "WORKER_ACCOUNT_SCOPE_REQUIRED"}}
        async with api_client(sandbox, tokens["live"]) as live:
            r = await live.post("/worker/gtt/triggers", json=GTT)
            assert r.status_code == 503
            assert r.json() == {"detail": {"rejection_reason": "WORKER_KITE_SESSION_UNAVAILABLE"}}


async def test_funds_scope_rule_before_parsing(sandbox: SandboxHandle, autojump_clock: MockClock) -> None:
    with trio.fail_after(30):
        scoped = sandbox.mint_token(account_scope="kite:paper-a")
        async with api_client(sandbox, scoped) as api_a:
            # unparsable: a scoped token allows it only verbatim, so 403 (not 400)
            r = await api_a.get("/worker/funds", params={"account_scope": "garbage"})
            assert r.status_code == 403 and r.json() == {
                "detail": "Worker token cannot read this account scope"
            }
            assert (await api_a.get("/worker/funds")).json()["account_scope"] == "kite:paper-a"
        # an unscoped token allows any scope: then parsing answers 400
        async with api_client(sandbox, sandbox.mint_token(account_scope=None)) as api:
            r = await api.get("/worker/funds", params={"account_scope": "garbage"})
            assert r.status_code == 400 and r.json() == {"detail": "Unsupported account_scope 'garbage'"}
            r = await api.get("/worker/funds")
            assert r.status_code == 400
            assert r.json() == {"detail": "account_scope is required for worker funds"}
            assert (
                await api.get("/worker/funds", params={"account_scope": "kite:paper-q"})
            ).status_code == 200


async def test_history_windows_and_their_422s(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(30):
        to = dt.datetime(2026, 5, 8, 15, 0, tzinfo=dt.UTC)

        async def history(**params: str) -> httpx.Response:
            return await api.get("/worker/market/history", params={"symbol": "NSE:INFY", **params})

        def span(days: float) -> dict[str, str]:
            return {"from": (to - dt.timedelta(days=days)).isoformat(), "to": to.isoformat()}

        assert (await history(timeframe="minute", **span(90))).status_code == 200
        r = await history(timeframe="minute", **span(91))
        assert r.status_code == 422
        assert r.json() == {"detail": "historical range for minute is limited to 90 days"}
        r = await history(timeframe="1m", passthrough="true", **span(61))
        assert r.json() == {"detail": "historical range for minute is limited to 60 days in passthrough mode"}
        assert (await history(timeframe="day", **span(3650))).status_code == 200
        naive = await history(to="2026-05-08T15:00:00")
        assert naive.status_code == 422 and naive.json() == {"detail": "to must include timezone information"}
        backwards = await history(**{"from": to.isoformat(), "to": (to - dt.timedelta(days=1)).isoformat()})
        assert backwards.json() == {"detail": "from must be earlier than to"}
        assert (await history(ingest="false", **span(5))).json()["ingestion"]["status"] == "disabled"
        assert (await history(**span(5))).json()["ingestion"]["status"] == "up_to_date"
        bad = await history(timeframe="2h")
        assert bad.status_code == 400 and bad.json() == {"detail": "Invalid timeframe '2h'"}


async def test_decision_event_references_must_resolve(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        run = {"strategy_run_id": "run_r", "template_id": "t", "account_scope": "kite:paper-a",
               "execution_mode": "paper"}  # fmt: skip
        await api.post("/worker/runs", json=run)
        decision = {"decision_type": "entry", "action": "enter", "summary": "basket in"}
        ref = {"related_resource_type": "basket_execution", "related_resource_id": "bex_0001"}
        r = await api.post("/worker/runs/run_r/decision-events", json={**decision, **ref})
        assert r.status_code == 422
        assert r.json() == {"detail": {"rejection_reason": "UNKNOWN_RELATED_REF", **ref}}
        # one of the two alone is not a reference to check (as on the reference server)
        r = await api.post(
            "/worker/runs/run_r/decision-events", json={**decision, "related_resource_id": "x"}
        )
        assert r.status_code == 200 and r.json()["related_resource_id"] == "x"
        assert len((await api.get("/worker/runs/run_r/timeline")).json()["events"]) == 1


async def _atm_call_run(api: httpx.AsyncClient, run_id: str, **extra: Any) -> dict[str, Any]:
    """A paper worker run and an options run of the same id buying one lot of the nearest ATM
    NIFTY call; returns the resolved leg."""
    run = {"strategy_run_id": run_id, "template_id": "t", "account_scope": "kite:paper-a",
           "execution_mode": "paper"}  # fmt: skip
    await api.post("/worker/runs", json=run)
    selection = {"expiry": "nearest", "legs": [{"option_type": "CE", "offset": "ATM"}]}
    contract = (await api.post("/worker/options/underlyings/NIFTY/selection/resolve", json=selection)).json()
    leg: dict[str, Any] = contract["resolved"][0]
    options_run = {"strategy_run_id": run_id, "strategy_name": "ATM call", "product": "NRML",
                   "legs": [{"tradingsymbol": leg["tradingsymbol"], "transaction_type": "BUY",
                             "quantity": leg["lot_size"]}], **extra}  # fmt: skip
    assert (await api.post("/worker/options/runs", json=options_run)).status_code == 200
    return leg


async def test_safety_check_blocks_on_triggered_options_protection(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(300):
        # any move of the premium either way trips one of the two
        await _atm_call_run(api, "run_o", protection={"stoploss_pct": 0.001, "target_pct": 0.001})
        entered = await api.post("/worker/options/runs/run_o/enter", json={"account_scope": "kite:paper-a"})
        assert entered.json()["status"] == "entered"
        safety = (await api.get("/worker/runs/run_o/safety-check")).json()
        assert safety["can_trade"] is True and safety["options_protection"]["applicable"] is True
        await trio.sleep(60)  # the spot moves every second, and the premium with it
        safety = (await api.get("/worker/runs/run_o/safety-check")).json()
        assert (
            safety["blocking_reasons"] == ["OPTIONS_PROTECTION_TRIGGERED"] and safety["safety_token"] is None
        )
        block = safety["options_protection"]
        assert block["triggered"] and block["blocking_reason"] == "OPTIONS_PROTECTION_TRIGGERED"
        assert block["matched_rule"] in ("option:stoploss_pct", "option:target_pct")
        assert block["run_status"] == "entered" and block["recommended_exit_orders_count"] == 1


async def test_options_run_legs_are_in_the_worker_runs_execution_timeline(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        leg = await _atm_call_run(api, "run_ot")
        execution = "/worker/runs/run_ot/timeline?event_kind=execution"
        assert (await api.get(execution)).json()["events"] == []
        entered = await api.post("/worker/options/runs/run_ot/enter", json={})
        assert entered.json()["status"] == "entered"
        await api.post("/worker/options/runs/run_ot/exit", json={})
        events = (await api.get(execution)).json()["events"]
        summaries = [e["summary"] for e in events]
        assert [e["event_type"] for e in events] == ["order.updated", "order.updated"], summaries
        # paper enums are lower-case on the wire (contract §4.5)
        assert summaries[0].startswith(f"buy {leg['lot_size']} {leg['tradingsymbol']}")
        assert summaries[1].startswith(f"sell {leg['lot_size']} {leg['tradingsymbol']}")


async def test_body_and_query_types_of_heartbeats_exit_and_tick_stream(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        run = {"strategy_run_id": "run_y", "template_id": "t", "account_scope": "kite:paper-a",
               "execution_mode": "dry_run"}  # fmt: skip
        await api.post("/worker/runs", json=run)
        bad = await api.post("/worker/heartbeat", json={"status": "healthy", "metrics": [1]})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "metrics"]
        ok = await api.post("/worker/heartbeat", json={"status": "healthy", "metrics": {}, "worker_id": "w1"})
        assert ok.json()["status"] == "ok"
        nonce = (await api.post("/worker/runs/run_y/claim-session")).json()["worker_session_nonce"]
        headers = {"X-Worker-Session-Nonce": nonce}
        r = await api.post("/worker/runs/run_y/heartbeat", json={"worker_id": 7}, headers=headers)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "worker_id"]
        r = await api.post("/worker/runs/run_y/exit", json={"reason": 5, "dry_run": False}, headers=headers)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
        assert (await api.get("/worker/runs/run_y")).json()["status"] == "open"
        # the tick stream parses its token list after authentication, with string details
        for tokens, detail in (
            ("12,x", "tokens must contain comma-separated integers"),
            ("0", "tokens contains an out-of-range instrument token"),
        ):
            r = await api.get("/worker/market/ticks/stream", params={"tokens": tokens})
            assert r.status_code == 422 and r.json() == {"detail": detail}
        anonymous = await api.get(
            "/worker/market/ticks/stream", params={"tokens": "x"}, headers={"Authorization": "Bearer nope"}
        )
        assert anonymous.status_code == 401


async def test_options_routes_authenticate_before_reading_the_body(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        bad = {"Authorization": "Bearer nope", "Content-Type": "application/json"}
        for path in ("/worker/options/runs", "/worker/options/underlyings/NIFTY/selection/resolve"):
            r = await api.post(path, content=b"{not json", headers=bad)
            assert r.status_code == 401 and r.json() == {"detail": "Invalid worker token"}
            assert (await api.post(path, content=b"{not json")).status_code == 422
        # worker routes validate first (§1.4)
        r = await api.post("/worker/market/quotes", content=b"{not json", headers=bad)
        assert r.status_code == 422


async def test_dry_run_on_a_live_scope_reads_broker_funds(
    sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    live_scope = sandbox.mint_token(account_scope="kite:AB1234")  # a live scope also allows paper ones
    with trio.fail_after(30):
        async with api_client(sandbox, live_scope) as api:
            run = {"strategy_run_id": "run_lv", "template_id": "t", "account_scope": "kite:AB1234",
                   "execution_mode": "dry_run"}  # fmt: skip
            assert (await api.post("/worker/runs", json=run)).status_code == 200
            no_broker = {"detail": "No live Kite broker session is available for this worker account_scope"}
            r = await api.get("/worker/runs/run_lv/funds")
            assert r.status_code == 503 and r.json() == no_broker
            r = await api.get("/worker/funds", params={"mode": "dry_run", "account_scope": "kite:AB1234"})
            assert r.status_code == 503 and r.json() == no_broker
            assert (
                await api.get("/worker/funds", params={"mode": "dry_run", "account_scope": "kite:paper-a"})
            ).json()["source"] == "paper_runtime"
