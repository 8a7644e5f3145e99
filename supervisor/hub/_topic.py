"""A topic's state, shared by the hub's own pumps (``_hub``) and the tick union (``_ticks``)."""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import trio

from ..client._errors import KiteAlgoWorkerError

if TYPE_CHECKING:
    from ._hub import Subscription

__all__ = ["TIMELINE_RING", "Opener", "Records", "Topic", "TopicKey", "failure_for"]

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
        # set when the topic failed for good: its subscribers were told, the hub forgot it (a
        # later subscriber opens a new topic and asks upstream again); it ends soon
        self.error: BaseException | None = None


def failure_for(cause: BaseException) -> BaseException:
    """A new exception like ``cause`` (type, message, status, body) with no traceback, no
    chain and no notes: what one subscriber raises once. Raising one shared object again and
    again grows its traceback by the raiser's frames every time and mixes the frames of
    every strategy on the topic (issue 11, failure 7)."""
    try:
        fresh = copy.copy(cause)  # BaseException.__reduce__: type(*args), then __dict__
    except Exception:  # a type that cannot be rebuilt from its args
        fresh = KiteAlgoWorkerError(str(cause), status_code=getattr(cause, "status_code", 0))
    fresh.__traceback__ = None
    fresh.__cause__ = fresh.__context__ = None
    if hasattr(fresh, "__notes__"):
        del fresh.__notes__  # a shallow copy would share (and grow) the cause's list
    return fresh
