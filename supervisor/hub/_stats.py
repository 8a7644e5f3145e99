"""Frozen statistics records returned by :meth:`StreamHub.statistics` (read by OPS's collector)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["HubStatistics", "SubscriberStatistics", "TopicStatistics"]


@dataclass(frozen=True, slots=True)
class TopicStatistics:
    """One upstream topic. ``stale_s``: seconds since its last event (None = none yet)."""

    kind: str
    key: str
    connected: bool
    subscribers: int
    reconnects: int
    last_event_unix: float | None
    events: int
    decode_errors: int
    stale_s: float | None


@dataclass(frozen=True, slots=True)
class SubscriberStatistics:
    """One subscription's buffer: fill, overflow-policy counters and delivery latency
    (time from fan-out to the subscriber taking the item)."""

    name: str
    strategy: str | None
    kind: str
    queue_depth: int
    capacity: int
    conflations: int
    drops: int
    lags: int
    delivered: int
    latency_max_s: float
    latency_mean_s: float


@dataclass(frozen=True, slots=True)
class HubStatistics:
    """Topics, subscriptions, and the upstream streams open now (one per candle, P&L and
    timeline topic, one per tick mode; two for a moment while a tick resubscription overlaps).
    ``retries``: transient upstream failures retried since the hub started, by topic kind
    (never decreases, unlike the per-topic ``reconnects`` of topics that come and go);
    ``failures``: topics failed for good (a permanent error), by kind."""

    topics: tuple[TopicStatistics, ...]
    subscribers: tuple[SubscriberStatistics, ...]
    upstream_streams: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
