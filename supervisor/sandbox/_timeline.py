"""The run timeline: events with database-wide cursors, filters, decision events (contract §4.12).

Pure. Cursors increase across all runs (not dense per run). Decision events accept both the
reference server's form (``decision_type`` + ``action`` + ``summary``) and the form the SDK 0.7.4
documentation shows (``event_type`` + ``summary`` + ``details``), which the reference server would
reject with 422 (contract §11 #3); the seed's form is stored with its ``event_type`` verbatim.
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Any

from ._errors import body_error
from ._runs import Run, iso

DECISION_TYPES = ("signal", "entry", "exit", "risk_update", "management", "protection_ack", "note")
DECISION_ACTIONS = (
    "enter",
    "exit",
    "hold",
    "skip",
    "modify",
    "cancel",
    "update_protection",
    "arm_bracket",
    "rebalance",
    "observe",
)
RELATED_TYPES = ("basket_execution", "bracket_intent", "worker_live_execution_link")
FILTERS = (
    "event_kind",
    "event_source",
    "event_type",
    "related_resource_type",
    "related_resource_id",
    "basket_execution_id",
)


class Timeline:
    """All runs' events in cursor order. ``events`` is append-only; ``cursors`` mirrors it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.cursors: list[int] = []
        self.last_cursor = 0
        self.by_run: dict[str, list[dict[str, Any]]] = {}

    def load(self, events: list[dict[str, Any]]) -> None:
        for event in sorted(events, key=lambda e: int(e["cursor"])):
            self._insert(event)

    def _insert(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.cursors.append(int(event["cursor"]))
        self.last_cursor = max(self.last_cursor, int(event["cursor"]))
        self.by_run.setdefault(event["strategy_run_id"], []).append(event)

    def append(
        self,
        run: Run,
        *,
        kind: str,
        source: str,
        event_type: str,
        summary: str | None,
        payload: dict[str, Any],
        now: dt.datetime,
        related_resource_type: str | None = None,
        related_resource_id: str | None = None,
        basket_execution_id: str | None = None,
    ) -> dict[str, Any]:
        """Store a new event and return it (exactly the keys of ``WorkerTimelineEvent``)."""
        self.last_cursor += 1
        event = {
            "cursor": self.last_cursor,
            "strategy_run_id": run.strategy_run_id,
            "account_id": run.account_scope,
            "basket_execution_id": basket_execution_id,
            "event_kind": kind,
            "event_source": source,
            "event_type": event_type,
            "related_resource_type": related_resource_type,
            "related_resource_id": related_resource_id,
            "summary": summary,
            "payload": payload,
            "created_at": iso(now),
        }
        self._insert(event)
        return event

    def query(
        self, run_id: str, after_cursor: int, limit: int, filters: dict[str, str]
    ) -> list[dict[str, Any]]:
        events = self.by_run.get(run_id, [])
        cursors = [int(e["cursor"]) for e in events]
        start = bisect.bisect_right(cursors, after_cursor)
        out: list[dict[str, Any]] = []
        for event in events[start:]:
            if matches(event, filters):
                out.append(event)
                if len(out) >= limit:
                    break
        return out


def matches(event: dict[str, Any], filters: dict[str, str]) -> bool:
    return all(str(event.get(k)) == v for k, v in filters.items())


def _opt_str(raw: dict[str, Any], name: str, max_len: int = 128) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise body_error(["body", name], "Input should be a valid string", "string_type", value)
    value = value.strip()
    if not value:
        return None
    if len(value) > max_len:
        raise body_error(
            ["body", name], f"String should have at most {max_len} characters", "string_too_long", value
        )
    return value


def parse_decision(raw: Any) -> dict[str, Any]:
    """Validate a decision-event body (422s) into ``event_type``/``summary``/``payload``/related refs."""
    if not isinstance(raw, dict):
        raise body_error(["body"], "Input should be a valid dictionary", "dict_type", raw)
    summary = raw.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise body_error(["body", "summary"], "Field required", "missing", raw)
    summary = summary.strip()
    if len(summary) > 500:
        raise body_error(
            ["body", "summary"], "String should have at most 500 characters", "string_too_long", summary
        )
    metadata = raw.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise body_error(["body", "metadata"], "Input should be a valid dictionary", "dict_type", metadata)
    related_type = _opt_str(raw, "related_resource_type")
    if related_type is not None and related_type not in RELATED_TYPES:
        raise body_error(
            ["body", "related_resource_type"],
            f"Input should be {', '.join(RELATED_TYPES)}",
            "literal_error",
            related_type,
        )
    related_id = _opt_str(raw, "related_resource_id")
    basket_id = _opt_str(raw, "basket_execution_id")
    refs = {
        "related_resource_type": related_type,
        "related_resource_id": related_id,
        "basket_execution_id": basket_id,
    }
    if "decision_type" in raw or "action" in raw or "event_type" not in raw:
        decision_type = raw.get("decision_type")
        if decision_type not in DECISION_TYPES:
            raise body_error(
                ["body", "decision_type"],
                f"Input should be {', '.join(DECISION_TYPES)}",
                "literal_error",
                decision_type,
            )
        action = raw.get("action")
        if action not in DECISION_ACTIONS:
            raise body_error(
                ["body", "action"], f"Input should be {', '.join(DECISION_ACTIONS)}", "literal_error", action
            )
        payload = {
            "decision_type": decision_type,
            "action": action,
            "summary": summary,
            "metadata": metadata,
            **refs,
        }
        event_type = f"decision.{decision_type}"
    else:
        raw_type = raw.get("event_type")
        if not isinstance(raw_type, str) or not raw_type.strip() or len(raw_type) > 128:
            raise body_error(
                ["body", "event_type"], "String should have 1..128 characters", "string_type", raw_type
            )
        event_type = raw_type.strip()
        details = raw.get("details", {})
        if details is None:
            details = {}
        if not isinstance(details, dict):
            raise body_error(["body", "details"], "Input should be a valid dictionary", "dict_type", details)
        payload = {
            "event_type": event_type,
            "summary": summary,
            "details": details,
            "metadata": metadata,
            **refs,
        }
    return {"event_type": event_type, "summary": summary, "payload": payload, **refs}
