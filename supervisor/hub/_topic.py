"""A topic's state, shared by the hub's own pumps (``_hub``) and the tick union (``_ticks``)."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from ._hub import Subscription

__all__ = ["TIMELINE_RING", "Opener", "Records", "Topic", "TopicKey", "fail"]

TopicKey = tuple[str, str]
Records = list[tuple[Any, Hashable | None]]
# opener(kind, params, after_cursor) -> async CM yielding an async iterator of payload dicts;
# params: ticks {"instruments": [...], "mode"}, candles {"instrument", "interval"},
# pnl {"run_id", "interval"}, timeline {"run_id"}
Opener = Callable[[str, dict[str, Any], int | None], AbstractAsyncContextManager[AsyncIterator[Any]]]
TIMELINE_RING = 1000


class Topic:
    """One topic: its subscribers, connection state and counters (statistics read them)."""

    def __init__(self, kind: str, key: str, params: dict[str, Any], cursor: int | None) -> None:
        self.kind = kind
        self.key = key
        self.params = params
        # the conflation key of the topic's latest-value items (ticks) in subscriber buffers: a
        # str caches its hash, a tuple's is computed again at every buffer lookup
        self.latest_key = f"{kind}|{key}"
        self.subs: set[Subscription] = set()
        self.connected = False
        self.reconnects = 0
        self.events = 0
        self.decode_errors = 0
        self.last_event_unix: float | None = None
        self.last_event_time: float | None = None
        self.cursor = cursor
        self.ring: deque[Any] = deque(maxlen=TIMELINE_RING)
        self.empty_since = 0.0
        self.became_empty = trio.Event()
        self.scope = trio.CancelScope()
        self.error: BaseException | None = None


def fail(topic: Topic, exc: BaseException) -> None:
    """End ``topic`` for good: its subscribers get ``exc`` from their next read."""
    topic.connected = False
    topic.error = exc
    for sub in list(topic.subs):
        sub.error = exc
        sub.wake()
