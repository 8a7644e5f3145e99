"""The order-rate budget of one trading account, shared fairly by its strategies (sans-IO).

Kite counts order requests per *user*, not per strategy: every strategy trading on one worker
token draws on one budget, and a request over it is rejected by the broker. This module decides,
with no I/O and no clock of its own (``now`` is always a parameter), when an order request may
go out:

* **Sliding windows.** A window ``(limit, span_s)`` admits a request of ``cost`` at ``now`` when
  the costs granted in ``(now - span_s, now]`` plus ``cost`` stay within ``limit``; a grant at
  ``g`` stops counting at exactly ``g + span_s``. Every configured window must admit a request.
* **Fair queue.** Requests that cannot go at once wait in one FIFO queue per key (the strategy);
  :meth:`OrderBudget.grant` serves the keys round-robin, one request per turn, so a strategy's
  burst takes its turn like everyone else's single order instead of every free slot.
* **Bounded.** Each window remembers at most ``limit`` grants (every cost is at least 1), and
  each waiting request has a deadline; the caller removes expired ones with :meth:`cancel`.

Invariants (tests/client/test_rate_limit_budget.py checks them with hypothesis): no window ever
holds more than its limit, whatever the order of requests, grants, cancellations and times; a
request is granted at most once; a key with waiting requests is served within one round of the
keys ahead of it once the windows admit its head request.

The thin trio shell that waits on trio's clock is :mod:`._rate_limit`.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "KITE_ORDER_LIMITS",
    "OrderBudget",
    "OrderRateLimits",
    "RateWindow",
    "Ticket",
]


@dataclass(frozen=True)
class RateWindow:
    """At most ``limit`` order requests in any ``span_s`` seconds; ``name`` is for messages."""

    limit: int
    span_s: float
    name: str

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.span_s > 0:
            raise ValueError(f"a rate window needs limit >= 1 and span_s > 0, not {self}")


@dataclass(frozen=True)
class OrderRateLimits:
    """An account's order-rate limits (requests per second, per minute, per day)."""

    per_second: int
    per_minute: int
    per_day: int

    def windows(self) -> tuple[RateWindow, ...]:
        # the daily cap is a sliding 24 h window: stricter than a calendar day, which it
        # therefore never exceeds, and it needs no wall clock or exchange calendar
        return (
            RateWindow(self.per_second, 1.0, f"{self.per_second} order requests per second"),
            RateWindow(self.per_minute, 60.0, f"{self.per_minute} order requests per minute"),
            RateWindow(self.per_day, 86_400.0, f"{self.per_day} orders per day"),
        )


# Kite's published per-user limits. Source: Zerodha's Kite Connect API documentation, "Rate
# limits" (https://kite.trade/docs/connect/v3/exceptions/#api-rate-limit): order placement
# 10 requests per second; and Zerodha's order limits notice (also cited in those docs): at most
# 200 orders per minute and 3,000 orders per day per user, across all segments.
KITE_ORDER_LIMITS = OrderRateLimits(per_second=10, per_minute=200, per_day=3000)


@dataclass(eq=False)
class Ticket:
    """One order request: waiting until :meth:`OrderBudget.grant` sets ``granted_at``."""

    key: str
    cost: int
    arrived_at: float
    deadline: float
    serial: int
    granted_at: float | None = None
    cancelled: bool = False

    @property
    def granted(self) -> bool:
        return self.granted_at is not None


@dataclass
class _Window:
    rule: RateWindow
    grants: deque[tuple[float, int]] = field(default_factory=deque)  # (time, cost), oldest first
    used: int = 0

    def expire(self, now: float) -> None:
        while self.grants and self.grants[0][0] + self.rule.span_s <= now:
            self.used -= self.grants.popleft()[1]

    def earliest(self, cost: int, now: float) -> float:
        """When ``cost`` more fits (``now`` or later; ``inf`` if it never can). Call ``expire`` first."""
        if cost > self.rule.limit:
            return math.inf
        excess = self.used + cost - self.rule.limit
        if excess <= 0:
            return now
        for granted_at, granted_cost in self.grants:
            excess -= granted_cost
            if excess <= 0:
                return granted_at + self.rule.span_s
        return math.inf  # unreachable: the grants sum to ``used``

    def take(self, cost: int, now: float) -> None:
        self.grants.append((now, cost))
        self.used += cost


class OrderBudget:
    """The budget of one account: sliding windows plus a round-robin queue per key.

    Nothing blocks; times are the caller's clock (trio's in the shell, anything in tests).
    """

    def __init__(self, windows: Sequence[RateWindow]) -> None:
        if not windows:
            raise ValueError("an order budget needs at least one window")
        self._windows = [_Window(rule) for rule in windows]
        self._queues: dict[str, deque[Ticket]] = {}  # keys in turn order: the head is next
        self._serial = itertools.count()

    @property
    def windows(self) -> tuple[RateWindow, ...]:
        return tuple(w.rule for w in self._windows)

    def __repr__(self) -> str:
        waiting = sum(len(q) for q in self._queues.values())
        return f"OrderBudget(windows={len(self._windows)}, waiting={waiting})"

    # -- the windows -------------------------------------------------------------------------
    def earliest(self, cost: int, now: float) -> tuple[float, RateWindow | None]:
        """When the windows alone (ignoring the queue) admit ``cost``, and the window that
        binds (None when it is ``now``); ``inf`` when ``cost`` exceeds a window's limit."""
        when, binding = now, None
        for window in self._windows:
            window.expire(now)
            at = window.earliest(cost, now)
            if at > when:
                when, binding = at, window.rule
        return when, binding

    def in_window(self, rule: RateWindow, now: float) -> int:
        """The cost granted within ``rule``'s window ending at ``now``."""
        for window in self._windows:
            if window.rule == rule:
                window.expire(now)
                return window.used
        raise KeyError(rule)

    # -- the queue ---------------------------------------------------------------------------
    def request(self, key: str, cost: int, now: float, *, max_wait_s: float) -> Ticket:
        """Queue a request of ``cost`` for ``key``, to be granted by :meth:`grant` before
        ``now + max_wait_s``. Never grants by itself, so that requests arriving at the same
        instant are served round-robin by the next :meth:`grant`."""
        if cost < 1:
            raise ValueError("cost must be >= 1")
        ticket = Ticket(key, cost, now, now + max_wait_s, next(self._serial))
        self._queues.setdefault(key, deque()).append(ticket)
        return ticket

    def grant(self, now: float) -> list[Ticket]:
        """Grant every queued request the windows admit at ``now``, keys served round-robin
        (one request per turn; the key whose head does not fit holds its turn). Returns the
        tickets granted, in order."""
        granted: list[Ticket] = []
        while self._queues:
            key, queue = next(iter(self._queues.items()))
            head = queue[0]
            when, _ = self.earliest(head.cost, now)
            if when > now:
                break
            for window in self._windows:
                window.take(head.cost, now)
            head.granted_at = now
            granted.append(head)
            queue.popleft()
            del self._queues[key]
            if queue:  # back of the line: every other waiting key goes first
                self._queues[key] = queue
        return granted

    def next_grant_at(self, now: float) -> float:
        """When :meth:`grant` can next grant something (``inf`` when nothing waits)."""
        for queue in self._queues.values():
            return self.earliest(queue[0].cost, now)[0]
        return math.inf

    def cancel(self, ticket: Ticket) -> None:
        """Withdraw a waiting request (its deadline passed, or its caller went away)."""
        if ticket.granted or ticket.cancelled:
            return
        ticket.cancelled = True
        queue = self._queues.get(ticket.key)
        if queue is not None and ticket in queue:
            queue.remove(ticket)
            if not queue:
                del self._queues[ticket.key]

    def waiting(self) -> Iterator[Ticket]:
        """The queued tickets, key by key in turn order."""
        for queue in self._queues.values():
            yield from queue
