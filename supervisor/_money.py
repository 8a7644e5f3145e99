"""Money per strategy: what the backend says each run holds, made and did (pure).

The backend owns the truth (grouped P&L, positions, executions); the daemon only reads it, on its
own cadence (``_money_reader``), and keeps the last reading per strategy in a :class:`MoneyBook`:
the P&L totals and open positions of ``GET /worker/runs/{id}/pnl``, and the orders seen in the
run's timeline (``execution`` events, §4.12), which every run has, paper or live. The book keeps a
bounded P&L history per strategy (the console's curve) and tells which orders are new fills since
the last reading (notifications). Nothing here blocks or does I/O; time is passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Money", "MoneyBook", "OrderView", "PositionView", "order_view", "position_view"]

HISTORY_POINTS = 720  # one P&L point per reading: an hour at 5 s
RECENT_ORDERS = 50
FILLED = frozenset({"filled", "complete"})


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class PositionView:
    symbol: str
    net_quantity: int
    average_price: float
    last_price: float
    unrealized_pnl: float
    net_pnl: float


@dataclass(frozen=True)
class OrderView:
    order_id: str
    symbol: str
    side: str
    quantity: int
    status: str
    average_price: float | None
    at: str  # the backend's timestamp (ISO 8601)

    @property
    def filled(self) -> bool:
        return self.status.lower() in FILLED


def position_view(leg: Mapping[str, Any]) -> PositionView:
    """One leg of a P&L snapshot (contract §4.10)."""
    exchange, symbol = leg.get("exchange"), leg.get("tradingsymbol") or ""
    return PositionView(
        symbol=f"{exchange}:{symbol}" if exchange else str(symbol),
        net_quantity=int(_float(leg.get("net_quantity"))),
        average_price=_float(leg.get("average_price")),
        last_price=_float(leg.get("last_price")),
        unrealized_pnl=_float(leg.get("unrealized_pnl")),
        net_pnl=_float(leg.get("net_pnl")),
    )


def order_view(event: Mapping[str, Any]) -> OrderView | None:
    """The order of an ``execution`` timeline event, None for other events."""
    order = (event.get("payload") or {}).get("order")
    if event.get("event_kind") != "execution" or not isinstance(order, Mapping):
        return None
    exchange, symbol = order.get("exchange"), order.get("tradingsymbol") or ""
    average = order.get("average_price")
    return OrderView(
        order_id=str(order.get("order_id") or ""),
        symbol=f"{exchange}:{symbol}" if exchange else str(symbol),
        side=str(order.get("transaction_type") or "").upper(),
        quantity=int(_float(order.get("quantity"))),
        status=str(order.get("status") or ""),
        average_price=None if average in (None, "") else _float(average),
        at=str(order.get("updated_at") or event.get("created_at") or ""),
    )


@dataclass(frozen=True)
class Money:
    """One strategy's last reading. ``error`` says why the last read failed (the rest is older)."""

    run_id: str
    net_pnl: float = 0.0
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    charges: float = 0.0
    positions: tuple[PositionView, ...] = ()
    orders: tuple[OrderView, ...] = ()  # newest last, at most RECENT_ORDERS
    read_at: float | None = None  # the daemon's wall clock at the last successful read
    error: str | None = None

    @property
    def open_positions(self) -> int:
        return sum(1 for p in self.positions if p.net_quantity)

    @property
    def last_order(self) -> OrderView | None:
        return self.orders[-1] if self.orders else None

    def as_dict(self) -> dict[str, Any]:
        last = self.last_order
        return {
            "run_id": self.run_id,
            "net_pnl": self.net_pnl,
            "realized_pnl": self.realized_pnl,
            "unrealized_pnl": self.unrealized_pnl,
            "charges": self.charges,
            "open_positions": self.open_positions,
            "positions": [p.__dict__ for p in self.positions],
            "last_order": None if last is None else last.__dict__,
            "read_at": self.read_at,
            "error": self.error,
        }


@dataclass
class _Ledger:
    money: Money
    cursor: int = 0  # the timeline cursor read up to
    orders: dict[str, OrderView] = field(default_factory=dict)  # by order id, insertion = recency
    history: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))


class MoneyBook:
    """The last reading per strategy, its P&L history and its orders. Never blocks."""

    def __init__(self) -> None:
        self._ledgers: dict[str, _Ledger] = {}

    def cursor(self, name: str, run_id: str) -> int:
        """Where to resume reading ``name``'s timeline (0 for a new or changed run)."""
        ledger = self._ledgers.get(name)
        return ledger.cursor if ledger is not None and ledger.money.run_id == run_id else 0

    def record(
        self,
        name: str,
        run_id: str,
        pnl: Mapping[str, Any],
        events: Iterable[Mapping[str, Any]],
        *,
        last_cursor: int,
        now: float,
    ) -> list[OrderView]:
        """Store a reading; returns the orders that became filled since the previous one."""
        ledger = self._ledgers.get(name)
        if ledger is None or ledger.money.run_id != run_id:
            ledger = self._ledgers[name] = _Ledger(Money(run_id))
        fills = []
        for event in events:
            order = order_view(event)
            if order is None:
                continue
            before = ledger.orders.pop(order.order_id, None)
            ledger.orders[order.order_id] = order
            if order.filled and (before is None or not before.filled):
                fills.append(order)
        while len(ledger.orders) > RECENT_ORDERS:
            ledger.orders.pop(next(iter(ledger.orders)))
        ledger.cursor = max(ledger.cursor, last_cursor)
        totals = pnl.get("totals") or {}
        ledger.money = Money(
            run_id=run_id,
            net_pnl=_float(totals.get("net_pnl")),
            realized_pnl=_float(totals.get("realized_pnl")),
            unrealized_pnl=_float(totals.get("unrealized_pnl")),
            charges=_float(totals.get("charges")),
            positions=tuple(position_view(leg) for leg in pnl.get("legs") or ()),
            orders=tuple(ledger.orders.values()),
            read_at=now,
        )
        ledger.history.append((now, ledger.money.net_pnl))
        return fills

    def failed(self, name: str, run_id: str, error: str) -> None:
        """A read failed: keep the last figures, say why."""
        ledger = self._ledgers.get(name)
        if ledger is None or ledger.money.run_id != run_id:
            ledger = self._ledgers[name] = _Ledger(Money(run_id))
        ledger.money = replace(ledger.money, error=error)

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the strategies not in ``keep`` (removed by a reload)."""
        wanted = set(keep)
        for name in [n for n in self._ledgers if n not in wanted]:
            del self._ledgers[name]

    def get(self, name: str) -> Money | None:
        ledger = self._ledgers.get(name)
        return None if ledger is None else ledger.money

    def history(self, name: str) -> list[tuple[float, float]]:
        """``(wall time, net P&L)`` per reading, oldest first (bounded)."""
        ledger = self._ledgers.get(name)
        return [] if ledger is None else list(ledger.history)

    def snapshot(self) -> dict[str, Money]:
        return {name: ledger.money for name, ledger in self._ledgers.items()}
