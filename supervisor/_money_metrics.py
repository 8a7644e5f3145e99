"""Money per strategy in Prometheus: net P&L and open positions, read from the cockpit's book.

:class:`MoneyCollector` reads :meth:`MoneyBook.snapshot` at scrape time (never the backend: the
money reader fills the book on its own cadence), so a scrape costs nothing but the copy. A
strategy whose run has never been read is absent; one whose last read failed keeps its last
figures (``/status`` says why under ``money.error``). Labels: the configured strategy name only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ._money import MoneyBook

__all__ = ["MONEY_CATALOGUE", "MoneyCollector"]

PREFIX = "kite_supervisor"
# (name without prefix, type, help, labels): joined to supervisor._metrics.CATALOGUE
MONEY_CATALOGUE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "strategy_net_pnl_inr",
        "gauge",
        "Net P&L of the strategy's run in INR after charges, as the backend last reported it",
        ("strategy",),
    ),
    (
        "strategy_open_positions",
        "gauge",
        "Instruments with a non-zero net quantity in the strategy's run (last reading)",
        ("strategy",),
    ),
)
_HELP = {name: doc for name, _, doc, _ in MONEY_CATALOGUE}


class MoneyCollector(Collector):
    """The book's last reading per strategy, at scrape time. Never blocks."""

    def __init__(self, book: MoneyBook) -> None:
        self._book = book

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on live state

    def collect(self) -> Iterator[Metric]:
        net = GaugeMetricFamily(
            f"{PREFIX}_strategy_net_pnl_inr", _HELP["strategy_net_pnl_inr"], labels=["strategy"]
        )
        positions = GaugeMetricFamily(
            f"{PREFIX}_strategy_open_positions", _HELP["strategy_open_positions"], labels=["strategy"]
        )
        for name, money in sorted(self._book.snapshot().items()):
            if money.read_at is None:
                continue  # never read successfully: no figure is better than a made-up zero
            net.add_metric([name], money.net_pnl)
            positions.add_metric([name], money.open_positions)
        yield from (net, positions)
