"""Response models: attribute-readable JSON documents and tolerant typed snapshots.

Every response is returned as :class:`Doc` (a ``dict`` readable as attributes too, so
``safety.can_trade`` and ``safety["can_trade"]`` both work). The ``*_snapshot`` calls decode
into frozen msgspec Structs that ignore unknown fields (the server adds keys over time,
contract §1.6/§11 items 1-2).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

__all__ = [
    "Doc",
    "GttPlaced",
    "GttSnapshot",
    "RunHealthSnapshot",
    "SafetyCheckResult",
    "Snapshot",
    "TimelineEvent",
    "TimelineSnapshot",
    "to_doc",
    "to_struct",
    "with_seed_funds_keys",
]


class Doc(dict[str, Any]):
    """A JSON object readable both ways; a missing attribute raises ``AttributeError``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def to_doc(value: Any) -> Any:
    """Wrap every JSON object (recursively) in :class:`Doc`."""
    if isinstance(value, dict):
        return Doc({k: to_doc(v) for k, v in value.items()})
    if isinstance(value, list):
        return [to_doc(v) for v in value]
    return value


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the typed snapshots: also readable with ``snapshot["field"]``."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


class SafetyCheckResult(Snapshot, frozen=True, kw_only=True):
    can_trade: bool = False
    safety_token: str | None = None
    token_expires_at: str | None = None
    blocking_reasons: list[str] = msgspec.field(default_factory=list)
    run_status: str = ""
    execution_mode: str | None = None
    generic_protection: dict[str, Any] = msgspec.field(default_factory=dict)
    options_protection: dict[str, Any] = msgspec.field(default_factory=dict)
    evaluated_at: str | None = None


class RunHealthSnapshot(Snapshot, frozen=True, kw_only=True):
    strategy_run_id: str = ""
    status: str = ""
    execution_mode: str = ""
    account_scope: str = ""
    heartbeat_age_sec: float | None = None
    health_status: str | None = None
    session_status: str | None = None
    recovery_status: str | None = None
    recovery_action_required: bool = False
    worker_session_claimed_at: str | None = None
    last_heartbeat_at: str | None = None


class TimelineEvent(Snapshot, frozen=True, kw_only=True):
    cursor: int = 0
    strategy_run_id: str = ""
    event_kind: str = ""
    event_source: str | None = None
    event_type: str = ""
    summary: str | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    related_resource_type: str | None = None
    related_resource_id: str | None = None
    basket_execution_id: str | None = None
    created_at: str | None = None


class TimelineSnapshot(Snapshot, frozen=True, kw_only=True):
    strategy_run_id: str = ""
    after_cursor: int = 0
    last_cursor: int = 0
    events: list[TimelineEvent] = msgspec.field(default_factory=list)


class GttPlaced(Snapshot, frozen=True, kw_only=True):
    trigger_id: int


class GttSnapshot(Snapshot, frozen=True, kw_only=True):
    id: int
    status: str = ""
    type: str = ""
    user_id: str | None = None
    parent_trigger: Any = None
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: str | None = None
    condition: dict[str, Any] = msgspec.field(default_factory=dict)
    orders: list[dict[str, Any]] = msgspec.field(default_factory=list)
    meta: Any = None


_T = TypeVar("_T")


def to_struct(doc: Any, cls: type[_T]) -> _T:
    """Convert a decoded document into ``cls`` (unknown fields ignored)."""
    return msgspec.convert(doc, cls, strict=False)


def with_seed_funds_keys(doc: Any) -> Any:
    """Add the seed's top-level ``net`` to a funds snapshot that lacks it.

    The seed reads ``funds["net"]``; the reference server sends ``segments`` instead (contract
    §4.10, §11 item 7). ``net`` is the equity segment's ``net``; nothing else is invented.
    """
    segments = doc.get("segments") if isinstance(doc, dict) else None
    equity = segments.get("equity") if isinstance(segments, dict) else None
    if isinstance(equity, dict) and "net" not in doc and isinstance(equity.get("net"), int | float):
        doc["net"] = equity["net"]
    return doc
