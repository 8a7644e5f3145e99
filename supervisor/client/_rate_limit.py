"""The order-rate limiter: a thin trio shell over :class:`._order_budget.OrderBudget`.

One :class:`OrderRateLimiter` stands for one trading account (one backend and worker token);
the daemon gives it to the client whose pipeline carries every strategy's order calls, so
``ctx.run.place_order``, ``ctx.client.place_basket``, cancels, modifies, exits and the options
namespace's entries and exits all draw on one budget (:data:`ORDER_ENDPOINTS`).

A request the budget cannot admit at once waits on trio's clock, in its strategy's turn, for at
most ``max_wait_s``; then it fails with :class:`~._errors.OrderRateLimitedError` naming the
limit. Nothing is dropped silently: every call either goes out or raises. A request whose wait
could not end in time (the daily cap is spent, a basket larger than the per-second limit) is
refused at once. Waits and refusals are counted per strategy (:meth:`statistics`, exported as
``kite_supervisor_order_rate_{waits,refusals}_total``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import trio

from ._errors import OrderRateLimitedError
from ._order_budget import KITE_ORDER_LIMITS, OrderBudget, OrderRateLimits

__all__ = [
    "ORDER_ENDPOINTS",
    "OrderRateLimiter",
    "OrderRateStatistics",
    "StrategyOrderRate",
]

# The endpoints that create or change broker orders (contract §4.5, §4.8, §4.9, §4.15). GTT
# triggers are not here: Kite limits them separately, and a trigger is no order until it fires.
ORDER_ENDPOINTS = frozenset(
    {"intents", "cancel_order", "modify_order", "exit_run", "options.enter", "options.exit"}
)
UNATTRIBUTED = "(unattributed)"  # an order on a run id that no configured strategy owns


@dataclass(frozen=True)
class StrategyOrderRate:
    """One strategy's counters: requests granted, waits (not granted on arrival), refusals."""

    strategy: str
    granted: int = 0
    waits: int = 0
    refusals: int = 0
    wait_seconds: float = 0.0


@dataclass(frozen=True)
class OrderRateStatistics:
    """A snapshot for metrics: per-strategy counters and the requests waiting now."""

    strategies: tuple[StrategyOrderRate, ...]
    waiting: int


@dataclass
class _Counters:
    granted: int = 0
    waits: int = 0
    refusals: int = 0
    wait_seconds: float = 0.0


class OrderRateLimiter:
    """The order budget of one account, shared fairly by its strategies.

    ``names`` maps run ids to strategy names (the fairness key and the metrics label); without
    it every run id is its own key. Order calls pass through :meth:`acquire`.
    """

    def __init__(
        self,
        limits: OrderRateLimits = KITE_ORDER_LIMITS,
        *,
        max_wait_s: float = 10.0,
        names: Mapping[str, str] | None = None,
    ) -> None:
        if max_wait_s < 0:
            raise ValueError("max_wait_s must be >= 0")
        self.limits = limits
        self.max_wait_s = max_wait_s
        self._budget = OrderBudget(limits.windows())
        self._names = dict(names) if names is not None else None
        self._changed = trio.Event()  # set (and replaced) whenever the queue moves
        self._counters: dict[str, _Counters] = {}

    def __repr__(self) -> str:
        return f"OrderRateLimiter(limits={self.limits}, max_wait_s={self.max_wait_s})"

    def _key(self, run_id: str) -> str:
        if self._names is None:
            return run_id or UNATTRIBUTED
        return self._names.get(run_id, UNATTRIBUTED)

    def _count(self, key: str) -> _Counters:
        return self._counters.setdefault(key, _Counters())

    def _grant(self, now: float, *, moved: bool = False) -> None:
        granted = self._budget.grant(now)
        for ticket in granted:
            counters = self._count(ticket.key)
            counters.granted += 1
            assert ticket.granted_at is not None
            if ticket.granted_at > ticket.arrived_at:
                counters.waits += 1
                counters.wait_seconds += ticket.granted_at - ticket.arrived_at
        if granted or moved:
            # wake every waiter: the granted return, the others re-read when to wake next
            # (a withdrawn head may let them go sooner than they planned)
            self._changed.set()
            self._changed = trio.Event()

    def _refuse(self, key: str, cost: int, what: str, now: float, arrived_at: float) -> OrderRateLimitedError:
        when, binding = self._budget.earliest(cost, now)
        rule = binding or self._budget.windows[0]  # admitted by the windows: queued behind others
        counters = self._count(key)
        counters.refusals += 1
        if now > arrived_at:
            counters.waits += 1
            counters.wait_seconds += now - arrived_at
        if when == float("inf"):
            reason = f"{cost} orders in one request can never fit the limit of {rule.name}"
        elif binding is None:
            reason = f"queued behind earlier orders for {now - arrived_at:g} s (limit: {rule.name})"
        else:
            reason = f"the account's budget of {rule.name} is spent for the next {when - now:g} s"
        return OrderRateLimitedError(
            f"{what} refused for strategy {key}: {reason}; max_wait_s is {self.max_wait_s:g}",
            limit=rule.name,
            retry_after=None if when == float("inf") else max(0.0, when - now),
        )

    async def acquire(self, run_id: str, cost: int = 1, *, what: str = "order request") -> None:
        """Wait for ``cost`` slots of the budget for the strategy owning ``run_id``.

        Blocks for at most ``max_wait_s`` (trio time). Raises :class:`OrderRateLimitedError`
        when no slot frees in time; cancellation withdraws the request.
        """
        key = self._key(run_id)
        now = trio.current_time()
        when, _ = self._budget.earliest(cost, now)
        if when - now > self.max_wait_s:
            raise self._refuse(key, cost, what, now, now)
        ticket = self._budget.request(key, cost, now, max_wait_s=self.max_wait_s)
        try:
            # one scheduling round before the first grant: requests arriving at the same
            # instant all queue first, and the grant then serves their strategies in turn
            await trio.lowlevel.checkpoint()
            while True:
                now = trio.current_time()
                self._grant(now)
                if ticket.granted:
                    return
                if now >= ticket.deadline:
                    raise self._refuse(key, cost, what, now, ticket.arrived_at)
                changed = self._changed
                with trio.move_on_at(min(ticket.deadline, self._budget.next_grant_at(now))):
                    await changed.wait()
        finally:
            if not ticket.granted:
                self._budget.cancel(ticket)
                self._grant(trio.current_time(), moved=True)  # a withdrawn head passes its turn on

    def statistics(self) -> OrderRateStatistics:
        """Per-strategy counters (sorted by name) and how many requests wait now. Never blocks."""
        return OrderRateStatistics(
            strategies=tuple(
                StrategyOrderRate(key, c.granted, c.waits, c.refusals, c.wait_seconds)
                for key, c in sorted(self._counters.items())
            ),
            waiting=sum(1 for _ in self._budget.waiting()),
        )
