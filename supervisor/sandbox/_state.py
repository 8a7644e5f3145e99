"""``SandboxState``: everything the sandbox knows, in memory, plus what changed since the last save.

Pure data with lookups; the operations live in ``_runs``, ``_intents``, ``_loops``. The store
(``_store.py``) persists it: it calls ``take_changes()`` after each mutating request and writes
the changed runs, new intent records, new timeline events and tokens through to SQLite.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from ._auth import TokenRecord, TokenStore
from ._errors import ApiError
from ._runs import Run, assert_run_access
from ._timeline import Timeline


@dataclass
class Changes:
    """What to write through: ids of changed runs, new intent keys, new events, token/KV flags."""

    runs: set[str] = field(default_factory=set)
    intents: list[tuple[str, str]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    tokens: bool = False
    engine: bool = False  # the paper engine's state changed (orders, fills, positions)

    def empty(self) -> bool:
        return not (self.runs or self.intents or self.events or self.tokens or self.engine)


class SandboxState:
    """Runs, idempotency records, timeline, tokens and token heartbeats of one sandbox."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.tokens = TokenStore()
        self.runs: dict[str, Run] = {}
        self.intents: dict[tuple[str, str], dict[str, Any]] = {}
        self.timeline = Timeline()
        self.token_heartbeats: dict[str, dt.datetime] = {}
        self.secret = secret if secret is not None else secrets.token_bytes(32)
        self.changes = Changes()
        # A backtest's (never persisted): its daemon runs in this process and beats as long as
        # the backtest runs, only less often than live, so a held session's heartbeat age is
        # reported as at most this (the live cadence) in health, safety, protection and claims
        self.held_session_age_cap_s: float | None = None
        # counters for statistics/tests
        self.executions = 0

    # -- lookups ---------------------------------------------------------------------------
    def run_for(self, token: TokenRecord, run_id: str) -> Run:
        """The run, checked for access: 404 ``Strategy run not found`` then 403s (§2.4)."""
        run = self.runs.get(run_id)
        if run is None:
            raise ApiError(404, "Strategy run not found")
        assert_run_access(token, run)
        return run

    # -- change tracking -------------------------------------------------------------------
    def mark(self, run: Run) -> None:
        self.changes.runs.add(run.strategy_run_id)

    def add_event(self, run: Run, **kwargs: Any) -> dict[str, Any]:
        """Append a timeline event for ``run`` (see ``Timeline.append``) and track it."""
        event = self.timeline.append(run, **kwargs)
        self.changes.events.append(event)
        return event

    def store_intent(self, run_id: str, key: str, result: dict[str, Any]) -> None:
        self.intents[(run_id, key)] = result
        self.changes.intents.append((run_id, key))
        self.changes.engine = True

    def engine_changed(self) -> None:
        self.changes.engine = True

    def take_changes(self) -> Changes:
        changes, self.changes = self.changes, Changes()
        return changes

    def tokens_changed(self) -> None:
        self.changes.tokens = True

    def token_record(self, token_id: str) -> TokenRecord | None:
        for record in self.tokens.by_hash.values():
            if record.token_id == token_id:
                return record
        return None
