"""Bounded per-subscriber buffer with a declared overflow policy (sans-IO).

Policy, in order of the item's kind:

* **keyed** items (ticks per instrument, the in-progress candle, the resume marker) are
  *conflated*: if an item with the same key is still queued, it is replaced in place (the
  subscriber sees the latest value at the original position). Counted in ``conflations``.
  A new key arriving at a full buffer evicts the oldest queued *keyed* item (counted in
  ``drops``); if there is none, the buffer is lagged (below).
* **unkeyed** items (completed candles, timeline events, P&L snapshots) are never silently
  dropped: one arriving at a full buffer empties the buffer and marks it *lagged* (counted in
  ``lags``). The next :meth:`pop` raises :class:`SubscriberLagged` once; later pops continue
  with new items, so the subscriber can recover (re-sync, resume the timeline from
  ``last_cursor``).

Invariants: ``len(self) <= capacity`` always; push never blocks and never raises.
Time is passed in (``now``) so delivery latency is measured without a clock here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Any

import msgspec

__all__ = ["SubscriberBuffer", "SubscriberLagged"]


class SubscriberLagged(Exception):
    """The subscriber fell more than ``capacity`` items behind; items were discarded.

    ``last_cursor`` is the last timeline cursor delivered before the gap (None if not a
    timeline); resume from it to recover."""

    def __init__(self, message: str, *, last_cursor: int | None = None) -> None:
        super().__init__(message)
        self.last_cursor = last_cursor


class _Slot(msgspec.Struct, gc=False):
    # untracked by the cyclic GC, like the hub's records (see _models): an item must not
    # refer back to its buffer
    item: Any
    key: Hashable | None
    t: float
    live: bool = True


class SubscriberBuffer:
    """FIFO of at most ``capacity`` items with per-key conflation and lag detection."""

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._queue: deque[_Slot] = deque()
        self._by_key: dict[Hashable, _Slot] = {}
        self._lagged = False
        self._size = 0
        self.conflations = 0
        self.drops = 0
        self.lags = 0
        self.delivered = 0
        self.last_cursor: int | None = None

    def __len__(self) -> int:
        return self._size

    @property
    def lagged(self) -> bool:
        return self._lagged

    def push(self, item: Any, now: float, key: Hashable | None = None) -> None:
        """Queue ``item`` (never blocks). ``key`` enables latest-value conflation."""
        if key is not None:
            slot = self._by_key.get(key)
            if slot is not None:
                slot.item = item  # keep the original enqueue time: latency counts the wait
                self.conflations += 1
                return
            if self._size >= self.capacity and not self._evict_oldest_keyed():
                self._lag()
            slot = _Slot(item, key, now)
            self._by_key[key] = slot
        else:
            if self._size >= self.capacity:
                self._lag()
            slot = _Slot(item, None, now)
        self._queue.append(slot)
        self._size += 1

    def pop(self, now: float) -> tuple[Any, float] | None:
        """Return ``(item, waited_seconds)`` or None when empty.

        Raises :class:`SubscriberLagged` once after an overflow of unkeyed items."""
        if self._lagged:
            self._lagged = False
            raise SubscriberLagged(
                f"subscriber fell more than {self.capacity} items behind; items were discarded",
                last_cursor=self.last_cursor,
            )
        while self._queue:
            slot = self._queue.popleft()
            if not slot.live:
                continue
            self._size -= 1
            if slot.key is not None:
                del self._by_key[slot.key]
            else:  # timeline events are unkeyed (a missing attribute is slow to look up)
                self._note_cursor(slot.item)
            self.delivered += 1
            return slot.item, now - slot.t
        return None

    def pop_many(self, now: float, limit: int) -> tuple[list[Any], float, float]:
        """Up to ``limit`` items, oldest first, with the sum and the max of their waits; raises
        :class:`SubscriberLagged` like :meth:`pop` (before returning anything)."""
        if self._lagged:
            return [self.pop(now)], 0.0, 0.0  # pop raises
        items: list[Any] = []
        total = longest = 0.0
        queue, by_key = self._queue, self._by_key
        while queue and len(items) < limit:
            slot = queue.popleft()
            if not slot.live:
                continue
            if slot.key is not None:
                del by_key[slot.key]
            else:
                self._note_cursor(slot.item)
            waited = now - slot.t
            total += waited
            longest = max(longest, waited)
            items.append(slot.item)
        self._size -= len(items)
        self.delivered += len(items)
        return items, total, longest

    def _note_cursor(self, item: Any) -> None:
        cursor = getattr(item, "cursor", None)
        if isinstance(cursor, int):
            self.last_cursor = cursor

    def _evict_oldest_keyed(self) -> bool:
        for slot in self._queue:
            if slot.live and slot.key is not None:
                slot.live = False
                del self._by_key[slot.key]
                self._size -= 1
                self.drops += 1
                return True
        return False

    def _lag(self) -> None:
        self._queue.clear()
        self._by_key.clear()
        self._size = 0
        if not self._lagged:  # one lag per unreported gap, however long it grows
            self.lags += 1
        self._lagged = True
