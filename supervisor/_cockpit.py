"""The operator's cockpit in the daemon: money per strategy, the console, notifications.

``open_cockpit`` (an async context manager, entered before the HTTP server starts) owns the money
book, the log tail and the notifier; ``serve_cockpit`` (a service started once the runners are)
reads every run's money on its cadence and watches the strategies' states for notices. The
cockpit only reads and tells: it never places an order, never exits a run (invariant 1).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio
from prometheus_client import CollectorRegistry

from ._breaker import Trip, serve_loss_breakers
from ._config import SupervisorConfig
from ._money import MoneyBook, OrderView
from ._money_metrics import MoneyCollector
from ._money_reader import serve_money_reader
from ._notify import Notice, NoticePolicy
from ._notify_sinks import Notifier, Sink, TelegramSink, WebhookSink, open_notifier, serve_transition_watch
from .client import AsyncKiteAlgoWorkerClient
from .console import LogTail
from .console._routes import console_routes, with_money

__all__ = ["Cockpit", "open_cockpit", "serve_cockpit"]

log = logging.getLogger("supervisor.cockpit")


@dataclass
class Cockpit:
    config: SupervisorConfig
    book: MoneyBook
    tail: LogTail
    notifier: Notifier
    wall_clock: Callable[[], float]
    trips: dict[str, Trip] = field(default_factory=dict)  # the loss breakers that tripped

    def status(self, supervisor: Any) -> dict[str, Any]:
        """``/status`` with each strategy's money (and a tripped loss breaker under it)."""
        doc = with_money(supervisor.status(), self.book)
        for entry in doc["strategies"]:
            trip = self.trips.get(entry["name"])
            if trip is not None and entry["money"] is not None:
                entry["money"]["loss_breaker"] = {"tripped_at": trip.net_pnl, "limit": trip.limit}
        return doc

    def routes(self, supervisor: Any) -> dict[tuple[str, str], Any]:
        return console_routes(supervisor.status, self.book, self.tail, wall_clock=self.wall_clock)

    def export_metrics(self, handler: object) -> None:
        """Add net P&L and open positions per strategy to the ``/metrics`` handler's registry
        (a :class:`~supervisor._metrics.SupervisorMetrics`; a handler without one gets none)."""
        registry = getattr(handler, "registry", None)
        if isinstance(registry, CollectorRegistry):
            registry.register(MoneyCollector(self.book))

    def view(self, supervisor: Any) -> CockpitView:
        """The supervisor as the HTTP server sees it, with money in ``/status``."""
        return CockpitView(supervisor, self)

    def on_fills(self, strategy: str, orders: list[OrderView]) -> None:
        if not self.config.notifications.fills:
            return
        for order in orders:
            price = "" if order.average_price is None else f" at {order.average_price:,.2f}"
            text = f"{strategy}: {order.side} {order.quantity} {order.symbol} filled{price}"
            self.notifier.notify(Notice("fill", text, "info", strategy, key=f"fill:{order.order_id}"))


@dataclass(frozen=True)
class CockpitView:
    supervisor: Any
    cockpit: Cockpit

    def ready(self) -> bool:
        return bool(self.supervisor.ready())

    def not_ready(self) -> list[dict[str, Any]]:
        return list(self.supervisor.not_ready())

    def status(self) -> dict[str, Any]:
        return self.cockpit.status(self.supervisor)

    def control(self, name: str, action: str) -> str:
        return str(self.supervisor.control(name, action))

    def state_of(self, name: str) -> str:
        return str(self.supervisor.state_of(name))


def _sinks(config: SupervisorConfig) -> list[Sink]:
    notes = config.notifications
    sinks: list[Sink] = [WebhookSink(url.get_secret_value()) for url in notes.webhooks]
    if notes.telegram is not None:
        t = notes.telegram
        sinks.append(TelegramSink(t.bot_token.get_secret_value(), t.chat_id, api_base=t.api_base))
    return sinks


@asynccontextmanager
async def open_cockpit(
    config: SupervisorConfig, *, wall_clock: Callable[[], float]
) -> AsyncIterator[Cockpit]:
    """The cockpit for one daemon run; says "daemon started" on entry and "stopped" on exit."""
    notes = config.notifications
    policy = NoticePolicy(dedupe_s=notes.dedupe_s, per_minute=notes.per_minute)
    tail = LogTail()
    logging.getLogger("supervisor").addHandler(tail)
    try:
        async with open_notifier(_sinks(config), policy, wall_clock=wall_clock) as notifier:
            count = len(config.strategies)
            notifier.notify(Notice("daemon_start", f"daemon started with {count} strategies"))
            try:
                yield Cockpit(config, MoneyBook(), tail, notifier, wall_clock)
            finally:
                notifier.notify(Notice("daemon_stop", "daemon stopped", "warning"))
    finally:
        logging.getLogger("supervisor").removeHandler(tail)


# a strategy in these states has no run on the backend yet (or could not get one)
_NO_RUN_YET = frozenset({"starting", "failed"})


def _runs(supervisor: Any) -> list[tuple[str, str]]:
    return [(s.name, s.run_id) for s in supervisor.statistics().strategies if s.state not in _NO_RUN_YET]


async def serve_cockpit(
    cockpit: Cockpit,
    supervisor: Any,
    client: AsyncKiteAlgoWorkerClient,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The money reader and the state watch, until cancelled."""
    money = cockpit.config.supervisor.money
    async with trio.open_nursery() as nursery:
        # woken by the runners' state changes rather than on a timer: a backtest lives through
        # millions of seconds in which nothing changes
        await nursery.start(
            partial(
                serve_transition_watch,
                lambda: tuple(supervisor.runners.values()),
                cockpit.notifier,
                supervisor.state_changed,
            )
        )
        if money.enabled:  # the breakers act on the money reader's book: nothing to read without it
            await nursery.start(
                partial(
                    serve_loss_breakers,
                    supervisor,
                    cockpit.book,
                    client,
                    cockpit.notifier.notify,
                    cockpit.trips,
                    interval_s=money.interval_s,
                )
            )
            await nursery.start(
                partial(
                    serve_money_reader,
                    partial(_runs, supervisor),
                    client,
                    cockpit.book,
                    wall_clock=cockpit.wall_clock,
                    interval_s=money.interval_s,
                    concurrency=money.concurrency,
                    on_fills=cockpit.on_fills,
                )
            )
        task_status.started()
