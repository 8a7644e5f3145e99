"""The order budget without I/O: sliding windows, the round-robin queue, and (hypothesis) the
invariant that no window ever holds more than its limit, whatever happens in whatever order."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.client._order_budget import (
    KITE_ORDER_LIMITS,
    OrderBudget,
    OrderRateLimits,
    RateWindow,
    Ticket,
)

SECOND = RateWindow(3, 1.0, "3 per second")
MINUTE = RateWindow(5, 60.0, "5 per minute")


def test_kite_limits_are_data_with_the_published_numbers() -> None:
    assert OrderRateLimits(per_second=10, per_minute=200, per_day=3000) == KITE_ORDER_LIMITS
    assert [(w.limit, w.span_s) for w in KITE_ORDER_LIMITS.windows()] == [
        (10, 1.0),
        (200, 60.0),
        (3000, 86400.0),
    ]
    assert [w.name for w in KITE_ORDER_LIMITS.windows()] == [
        "10 order requests per second",
        "200 order requests per minute",
        "3000 orders per day",
    ]


def test_a_window_frees_a_grant_exactly_span_after_it() -> None:
    budget = OrderBudget([SECOND])
    tickets = [budget.request("a", 1, 0.25, max_wait_s=10) for _ in range(4)]
    assert budget.grant(0.25) == tickets[:3]
    assert budget.earliest(1, 0.25) == (1.25, SECOND)
    assert budget.next_grant_at(0.5) == 1.25
    assert budget.grant(1.2499) == []
    assert budget.grant(1.25) == [tickets[3]]
    assert tickets[3].granted_at == 1.25
    assert budget.next_grant_at(1.25) == math.inf  # nothing waits


def test_the_tightest_window_binds_and_costs_add_up() -> None:
    budget = OrderBudget([SECOND, MINUTE])
    first = budget.request("a", 3, 0.0, max_wait_s=100)
    second = budget.request("a", 2, 0.0, max_wait_s=100)
    assert budget.grant(0.0) == [first]
    assert budget.grant(1.0) == [second]  # 5 of 5 for the minute now
    assert budget.earliest(1, 1.0) == (60.0, MINUTE)
    assert budget.in_window(MINUTE, 59.9) == 5
    assert budget.in_window(MINUTE, 60.0) == 2
    assert budget.earliest(4, 0.0)[0] == math.inf  # more than a window's limit: never


def test_waiting_keys_are_served_round_robin() -> None:
    budget = OrderBudget([SECOND])
    burst = [budget.request("greedy", 1, 0.0, max_wait_s=10) for _ in range(6)]
    b = budget.request("b", 1, 0.0, max_wait_s=10)
    c = budget.request("c", 1, 0.0, max_wait_s=10)
    assert budget.grant(0.0) == [burst[0], b, c]  # one each, though the burst came first
    assert budget.grant(1.0) == burst[1:4]  # only the burst is left
    late = budget.request("d", 1, 1.5, max_wait_s=10)
    assert budget.grant(2.0) == [burst[4], late, burst[5]]  # d joins the rotation


def test_a_head_that_does_not_fit_holds_its_turn() -> None:
    budget = OrderBudget([SECOND])
    budget.grant(0.0)
    small = budget.request("a", 1, 0.0, max_wait_s=10)
    assert budget.grant(0.0) == [small]
    basket = budget.request("basket", 3, 0.1, max_wait_s=10)
    single = budget.request("single", 1, 0.1, max_wait_s=10)
    assert budget.grant(0.5) == []  # 1 of 3 used: the single would fit, but it is the basket's turn
    assert budget.grant(1.0) == [basket]
    assert budget.grant(2.0) == [single]


def test_cancel_withdraws_a_waiting_request_only() -> None:
    budget = OrderBudget([SECOND])
    granted = budget.request("a", 1, 0.0, max_wait_s=10)
    assert budget.grant(0.0) == [granted]
    waiting = [budget.request("a", 3, 0.0, max_wait_s=10), budget.request("b", 1, 0.0, max_wait_s=10)]
    assert budget.grant(0.0) == []  # a's 3 do not fit, and it is a's turn
    budget.cancel(granted)  # no effect: it went out
    assert granted.granted and not granted.cancelled
    budget.cancel(waiting[0])
    assert list(budget.waiting()) == [waiting[1]]
    assert budget.grant(0.0) == [waiting[1]]
    assert "waiting=0" in repr(budget)


# -- properties ------------------------------------------------------------------------------
events = st.lists(
    st.tuples(
        st.sampled_from(["request", "request", "grant", "cancel"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=1, max_value=4),
        st.floats(min_value=0.0, max_value=3.0, allow_nan=False),  # time step
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(events, st.integers(min_value=1, max_value=6), st.integers(min_value=2, max_value=12))
def test_no_window_is_ever_exceeded(
    script: list[tuple[str, str, int, float]], per_second: int, per_ten: int
) -> None:
    windows = [RateWindow(per_second, 1.0, "s"), RateWindow(per_ten, 10.0, "10 s")]
    budget = OrderBudget(windows)
    now = 0.0
    tickets: list[Ticket] = []
    granted: list[Ticket] = []
    for action, key, cost, step in script:
        now += step
        if action == "request":
            tickets.append(budget.request(key, cost, now, max_wait_s=5))
        elif action == "cancel" and tickets:
            budget.cancel(tickets[len(granted) % len(tickets)])
        got = budget.grant(now)
        assert all(t.granted_at == now and not t.cancelled for t in got)
        granted.extend(got)
        # the queue serves keys in turn: one grant per key before any key's second
        keys = [t.key for t in got]
        assert len(set(keys[: len(set(keys))])) == len(set(keys))
    assert len({id(t) for t in granted}) == len(granted)  # each at most once
    for window in windows:
        for t in granted:
            assert t.granted_at is not None
            inside = sum(
                g.cost
                for g in granted
                if g.granted_at is not None and t.granted_at <= g.granted_at < t.granted_at + window.span_s
            )
            assert inside <= window.limit, (window, t.granted_at)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=60))
def test_a_burst_never_takes_more_than_its_turn(arrivals: list[str]) -> None:
    budget = OrderBudget([RateWindow(4, 1.0, "4 per second")])
    for key in arrivals:
        budget.request(key, 1, 0.0, max_wait_s=100)
    first = budget.grant(0.0)
    assert len(first) == min(4, len(arrivals))
    got = {k: sum(1 for t in first if t.key == k) for k in set(arrivals)}
    # max-min fair: a key gets more than one slot over another only when the other wanted no more
    for more in got.values():
        for key, fewer in got.items():
            assert more <= fewer + 1 or fewer == arrivals.count(key), got
