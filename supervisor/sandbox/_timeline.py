"""The run timeline: events with database-wide cursors, filters, decision events (contract §4.12).

Pure. Cursors increase across all runs (not dense per run). Decision events take the reference
server's body only (``decision_type`` + ``action`` + ``summary``); the form the SDK 0.7.4
documentation shows (``event_type`` + ``summary`` + ``details``) is a 422 naming the missing
fields, as on the reference server (contract §11 #3). Our client translates the seed's form.
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Any

from ._errors import ApiError, body_error
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
        # by key, not a list of cursors built per call: a query costs O(log n + result), so a
        # reader polling a long run (the daemon's money reader, a month's backtest) stays flat
        start = bisect.bisect_right(events, after_cursor, key=_cursor)
        out: list[dict[str, Any]] = []
        for event in events[start:]:
            if matches(event, filters):
                out.append(event)
                if len(out) >= limit:
                    break
        return out


def _cursor(event: dict[str, Any]) -> int:
    return int(event["cursor"])


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
    """Validate a decision-event body into ``event_type``/``summary``/``payload``/related refs.

    Raises a 422 listing every invalid field, in the schema's order, as FastAPI does; unknown
    fields (the seed's ``event_type``, ``details``) are ignored.
    """
    if not isinstance(raw, dict):
        raise body_error(["body"], "Input should be a valid dictionary", "dict_type", raw)
    errors: list[dict[str, Any]] = []

    def check(name: str, choices: tuple[str, ...]) -> Any:
        value = raw.get(name)
        if value is None:
            errors.append({"type": "missing", "loc": ["body", name], "msg": "Field required", "input": raw})
        elif value not in choices:
            msg = f"Input should be {', '.join(repr(c) for c in choices)}"
            errors.append({"type": "literal_error", "loc": ["body", name], "msg": msg, "input": value})
        return value

    decision_type = check("decision_type", DECISION_TYPES)
    action = check("action", DECISION_ACTIONS)
    summary = raw.get("summary")
    if summary is None:
        errors.append({"type": "missing", "loc": ["body", "summary"], "msg": "Field required", "input": raw})
    elif not isinstance(summary, str) or not 1 <= len(summary.strip()) <= 500:
        msg = "String should have between 1 and 500 characters"
        errors.append({"type": "string_type", "loc": ["body", "summary"], "msg": msg, "input": summary})
    if errors:
        raise ApiError(422, errors)
    summary = str(summary).strip()
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
    refs = {
        "related_resource_type": related_type,
        "related_resource_id": _opt_str(raw, "related_resource_id"),
        "basket_execution_id": _opt_str(raw, "basket_execution_id"),
    }
    payload = {"decision_type": decision_type, "action": action, "summary": summary, "metadata": metadata}
    payload.update(refs)
    return {"event_type": f"decision.{decision_type}", "summary": summary, "payload": payload, **refs}
