"""Timeline, decision events (the server's body; the seed's is 422) and the timeline SSE stream."""

from __future__ import annotations

import json

import httpx
import trio
from trio.testing import MockClock

from supervisor.sandbox._timeline import Timeline

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
        # the seed's README body lacks decision_type and action: 422 naming both (contract §11 #3)
        r = await api.post("/worker/runs/run_t/decision-events", json=SEED_FORM)
        assert r.status_code == 422
        assert [e["loc"] for e in r.json()["detail"]] == [["body", "decision_type"], ["body", "action"]]
        r = await api.post(
            "/worker/runs/run_t/decision-events", json={"decision_type": "bogus", "summary": "x"}
        )
        assert r.status_code == 422
        assert [e["type"] for e in r.json()["detail"]] == ["literal_error", "missing"]
        # a held session: the nonce is required (§4.3.3), as SDK 0.7.4 cannot send it (§11 #4)
        nonce = (await api.post("/worker/runs/run_t/claim-session")).json()["worker_session_nonce"]
        r = await api.post("/worker/runs/run_t/decision-events", json=SERVER_FORM)
        assert r.status_code == 409
        assert r.json()["detail"]["rejection_reason"] == "WORKER_SESSION_REQUIRED"
        r = await api.post(
            "/worker/runs/run_t/decision-events",
            json=SERVER_FORM,
            headers={"X-Worker-Session-Nonce": "wsn_bad"},
        )
        assert r.json()["detail"]["rejection_reason"] == "WORKER_SESSION_CONFLICT"
        for decision_type in ("entry", "exit"):
            r = await api.post(
                "/worker/runs/run_t/decision-events",
                json={**SERVER_FORM, "decision_type": decision_type},
                headers={"X-Worker-Session-Nonce": nonce},
            )
            assert r.status_code == 200
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
        await api.post("/worker/runs/run_t/decision-events", json={**SERVER_FORM, "decision_type": "entry"})
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
        assert [e["event_type"] for e in received] == ["decision.entry", "decision.signal"]
        assert received[1]["cursor"] > received[0]["cursor"]  # type: ignore[operator]
        assert comments >= 1


def test_query_pages_a_run_among_others_from_every_cursor() -> None:
    # two runs interleaved: one run's cursors are not contiguous, so the bisect must be by cursor
    timeline = Timeline()
    timeline.load(
        [
            {
                "cursor": c,
                "strategy_run_id": "a" if c % 3 else "b",
                "event_kind": "execution" if c % 2 else "decision",
            }
            for c in range(30, 0, -1)  # loaded out of order: load sorts
        ]
    )
    a_cursors = [c for c in range(1, 31) if c % 3]
    for after in range(0, 32):
        got = [e["cursor"] for e in timeline.query("a", after, 5, {})]
        assert got == [c for c in a_cursors if c > after][:5]
        executions = [e["cursor"] for e in timeline.query("a", after, 100, {"event_kind": "execution"})]
        assert executions == [c for c in a_cursors if c > after and c % 2]
    assert timeline.query("nobody", 0, 10, {}) == []
