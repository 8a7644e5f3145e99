"""The per-subscriber buffer's overflow policy, sans-IO."""

from __future__ import annotations

import pytest

from supervisor.hub import SubscriberBuffer, SubscriberLagged, TimelineEvent


def drain(buf: SubscriberBuffer) -> list[object]:
    out = []
    while (got := buf.pop(0.0)) is not None:
        out.append(got[0])
    return out


def test_keyed_items_conflate_in_place() -> None:
    buf = SubscriberBuffer(capacity=4)
    buf.push("a1", 0.0, key="a")
    buf.push("b1", 0.0, key="b")
    buf.push("a2", 0.0, key="a")
    assert drain(buf) == ["a2", "b1"]
    assert buf.conflations == 1 and buf.drops == 0 and buf.lags == 0


def test_memory_bounded_with_many_keys_drops_oldest_keyed() -> None:
    buf = SubscriberBuffer(capacity=3)
    for i in range(10):
        buf.push(i, 0.0, key=i)
        assert len(buf) <= 3
    assert drain(buf) == [7, 8, 9]
    assert buf.drops == 7


def test_unkeyed_overflow_lags_once_then_recovers() -> None:
    buf = SubscriberBuffer(capacity=2)
    buf.push(TimelineEvent(cursor=1), 0.0)
    assert buf.pop(0.0) is not None
    for c in range(2, 6):
        buf.push(TimelineEvent(cursor=c), 0.0)
    assert len(buf) <= 2 and buf.lags == 1
    with pytest.raises(SubscriberLagged) as info:
        buf.pop(0.0)
    assert info.value.last_cursor == 1
    # what arrived after the gap is kept, in order
    assert drain(buf) == [TimelineEvent(cursor=4), TimelineEvent(cursor=5)]
    assert buf.lags == 1


def test_latency_counts_wait_from_first_enqueue() -> None:
    buf = SubscriberBuffer(capacity=2)
    buf.push("x", 1.0, key="k")
    buf.push("y", 3.0, key="k")
    assert buf.pop(4.0) == ("y", 3.0)


def test_pop_many_takes_a_burst_in_order_with_its_waits() -> None:
    buf = SubscriberBuffer(capacity=8)
    buf.push("a1", 1.0, key="a")
    buf.push(TimelineEvent(cursor=7), 2.0)
    buf.push("b1", 3.0, key="b")
    buf.push("a2", 4.0, key="a")  # conflated into a1's place, a1's enqueue time kept
    items, total, longest = buf.pop_many(5.0, limit=2)
    assert items == ["a2", TimelineEvent(cursor=7)] and (total, longest) == (7.0, 4.0)
    assert len(buf) == 1 and buf.delivered == 2 and buf.last_cursor == 7
    buf.push("a3", 5.0, key="a")  # a's slot was taken: a new one
    assert buf.pop_many(6.0, limit=10)[0] == ["b1", "a3"] and len(buf) == 0
    assert buf.pop_many(6.0, limit=10) == ([], 0.0, 0.0)


def test_pop_many_reports_a_lag_first() -> None:
    buf = SubscriberBuffer(capacity=2)
    for c in range(5):
        buf.push(TimelineEvent(cursor=c), 0.0)
    with pytest.raises(SubscriberLagged):
        buf.pop_many(0.0, limit=10)
    buf.push(TimelineEvent(cursor=9), 0.0)  # after the gap: the item that overflowed, then new ones
    assert buf.pop_many(0.0, limit=10)[0] == [TimelineEvent(cursor=4), TimelineEvent(cursor=9)]
