"""Timeline, decision events (both body forms) and the timeline SSE stream (backfill then live)."""

from __future__ import annotations

import json

import httpx
import trio
from trio.testing import MockClock

RUN = {
    "strategy_run_id": "run_t",
    "template_id": "t",
    "account_scope": "kite:paper-a",
    "execution_mode": "dry_run",
}
SERVER_FORM = {
    "decision_type": "signal",
    "action": "observe",
    "summary": "EMA cross",
    "metadata": {"fast": 1.5},
}
SEED_FORM = {"event_type": "signal.generated", "summary": "EMA crossover", "details": {"symbol": "INFY"}}


async def test_decision_events_and_pagination(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(30):
        await api.post("/worker/runs", json=RUN)
        r = await api.post("/worker/runs/run_t/decision-events", json=SERVER_FORM)
        assert r.status_code == 200, r.text
        event = r.json()
        assert set(event) == {
            "cursor", "strategy_run_id", "account_id", "basket_execution_id", "event_kind", "event_source",
            "event_type", "related_resource_type", "related_resource_id", "summary", "payload", "created_at",
        }  # fmt: skip
        assert event["event_type"] == "decision.signal" and event["event_kind"] == "decision"
        assert event["payload"]["action"] == "observe"
        r = await api.post("/worker/runs/run_t/decision-events", json=SEED_FORM)
        assert r.json()["event_type"] == "signal.generated"
        assert r.json()["payload"]["details"] == {"symbol": "INFY"}
        r = await api.post(
            "/worker/runs/run_t/decision-events", json={"decision_type": "bogus", "summary": "x"}
        )
        assert r.status_code == 422
        # a held session: no header passes (SDK 0.7.4 cannot send it), a wrong one conflicts
        await api.post("/worker/runs/run_t/claim-session")
        assert (await api.post("/worker/runs/run_t/decision-events", json=SEED_FORM)).status_code == 200
        r = await api.post(
            "/worker/runs/run_t/decision-events",
            json=SEED_FORM,
            headers={"X-Worker-Session-Nonce": "wsn_bad"},
        )
        assert r.status_code == 409
        page = (await api.get("/worker/runs/run_t/timeline", params={"limit": 2})).json()
        assert len(page["events"]) == 2 and page["after_cursor"] == 0
        rest = (
            await api.get("/worker/runs/run_t/timeline", params={"after_cursor": page["last_cursor"]})
        ).json()
        assert len(rest["events"]) == 1
        assert rest["events"][0]["cursor"] > page["last_cursor"]
        empty = (
            await api.get("/worker/runs/run_t/timeline", params={"after_cursor": rest["last_cursor"]})
        ).json()
        assert empty["events"] == [] and empty["last_cursor"] == rest["last_cursor"]
        kinds = (
            await api.get("/worker/runs/run_t/timeline", params={"event_type": "decision.signal"})
        ).json()
        assert [e["event_type"] for e in kinds["events"]] == ["decision.signal"]
        assert (await api.get("/worker/runs/run_t/timeline", params={"limit": 0})).status_code == 422


async def test_timeline_stream_backfill_then_live(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(120):
        await api.post("/worker/runs", json=RUN)
        first = (await api.post("/worker/runs/run_t/decision-events", json=SERVER_FORM)).json()
        await api.post("/worker/runs/run_t/decision-events", json=SEED_FORM)
        received: list[dict[str, object]] = []
        comments = 0
        async with api.stream(
            "GET", "/worker/runs/run_t/timeline/stream", params={"after_cursor": first["cursor"]}
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            async for line in lines:
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    if len(received) == 1:
                        # backfill done (only the event after the cursor); publish a live one later
                        await trio.sleep(20)  # a keep-alive comes first
                        await api.post("/worker/runs/run_t/decision-events", json=SERVER_FORM)
                    if len(received) == 2:
                        break
                elif line.startswith(": heartbeat"):
                    comments += 1
        assert [e["event_type"] for e in received] == ["signal.generated", "decision.signal"]
        assert received[1]["cursor"] > received[0]["cursor"]  # type: ignore[operator]
        assert comments >= 1
