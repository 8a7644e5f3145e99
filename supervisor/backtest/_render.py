"""A backtest's report as text, CSV, HTML and PNG, and the files it is written to.

Pure renderers (``render_*`` return str or bytes) and one shell, :func:`write_report`. The same
result renders to the same bytes: nothing here reads a clock, rows are in config and fill order,
numbers have fixed decimals. Files in the report directory:

* ``summary.csv`` and ``summary.txt``: the figures per strategy and in total (``_report``);
* ``trades.csv``: every fill, with its order's charges on the order's first fill;
* ``equity.csv``: net P&L at the end of each bar, per strategy and in total;
* ``equity.png`` (total) and ``equity-<strategy>.png``: the equity curves;
* ``report.html``: all of it on one page.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from supervisor.sandbox._market_hours import IST

from ._png import line_chart_png
from ._report import TOTAL, Metrics, equity_curve, metrics
from ._result import BacktestResult

__all__ = ["render_html", "render_summary", "render_trades_csv", "write_report"]

HEADERS = (
    "strategy",
    "net_pnl",
    "charges",
    "trades",
    "round_trips",
    "win_rate",
    "max_drawdown",
    "exposure",
    "sharpe",
    "restarts",
)


def _cells(row: Metrics) -> list[str]:
    return [
        row.name,
        f"{row.net_pnl:.2f}",
        f"{row.charges:.2f}",
        str(row.trades),
        str(row.round_trips),
        "-" if row.win_rate is None else f"{100 * row.win_rate:.1f}%",
        f"{row.max_drawdown:.2f}",
        f"{100 * row.exposure:.1f}%",
        "-" if row.sharpe is None else f"{row.sharpe:.2f}",
        str(row.restarts),
    ]


def render_summary(rows: Sequence[Metrics]) -> str:
    """The summary table printed at the end (INR, percentages)."""
    table = [list(HEADERS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def render_summary_csv(rows: Sequence[Metrics]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADERS)
    writer.writerows(_cells(r) for r in rows)
    return out.getvalue()


def render_trades_csv(result: BacktestResult) -> str:
    names = {run_id: name for name, run_id in result.strategies}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ("time", "strategy", "exchange", "tradingsymbol", "product", "side", "quantity", "price", "charges")
    )
    charged: set[str] = set()
    for trade in result.trades:
        order_id = str(trade["order_id"])
        fee = Decimal(0) if order_id in charged else result.order_charges.get(order_id, Decimal(0))
        charged.add(order_id)
        when = trade["trade_timestamp"]
        writer.writerow(
            (
                _ist(when),
                names.get(str(trade["metadata"]["strategy_run_id"]), ""),
                trade["exchange"],
                trade["tradingsymbol"],
                trade["product"],
                trade["transaction_type"],
                trade["quantity"],
                trade["price"],
                f"{fee:.2f}",
            )
        )
    return out.getvalue()


def _ist(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(IST).isoformat()


def render_equity_csv(result: BacktestResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("time", *(name for name, _ in result.strategies), TOTAL))
    run_ids = [run_id for _, run_id in result.strategies]
    for sample in result.samples:
        values = [sample.runs[r][0] for r in run_ids]
        writer.writerow(
            (sample.when.astimezone(IST).isoformat(), *(f"{v:.2f}" for v in values), f"{sum(values):.2f}")
        )
    return out.getvalue()


def _png_name(name: str) -> str:
    return "equity.png" if name == TOTAL else f"equity-{name}.png"


def render_html(result: BacktestResult, rows: Sequence[Metrics]) -> str:
    esc = html.escape
    period = ""
    if result.first is not None and result.last is not None:
        first, last = result.first.astimezone(IST), result.last.astimezone(IST)
        period = f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} IST"
    head = "".join(f"<th>{esc(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _cells(r)) + "</tr>" for r in rows)
    charts = "".join(
        f'<h2>{esc(r.name)}</h2><img src="{esc(_png_name(r.name))}" alt="equity curve of {esc(r.name)}">'
        for r in rows
    )
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>Backtest report</title>'
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>\n"
        f"<h1>Backtest report</h1><p>{esc(period)}; {result.steps} market steps; "
        f"net P&amp;L, charges and drawdown in INR; exit code {result.exit_code}.</p>\n"
        f"<table><tr>{head}</tr>{body}</table>\n"
        '<p><a href="trades.csv">trades.csv</a> <a href="equity.csv">equity.csv</a> '
        '<a href="summary.csv">summary.csv</a></p>\n'
        f"{charts}\n</body></html>\n"
    )


def write_report(result: BacktestResult, directory: str | Path) -> list[Metrics]:
    """Write every report file into ``directory`` (created); returns the rows (blocks: file I/O)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    rows = metrics(result)
    (out / "summary.txt").write_text(render_summary(rows), encoding="utf-8")
    (out / "summary.csv").write_text(render_summary_csv(rows), encoding="utf-8")
    (out / "trades.csv").write_text(render_trades_csv(result), encoding="utf-8")
    (out / "equity.csv").write_text(render_equity_csv(result), encoding="utf-8")
    (out / "report.html").write_text(render_html(result, rows), encoding="utf-8")
    for name, run_id in [*result.strategies, (TOTAL, "")]:
        run_ids = [r for _, r in result.strategies] if name == TOTAL else [run_id]
        values = [equity for equity, _ in equity_curve(result.samples, run_ids)]
        (out / _png_name(name)).write_bytes(line_chart_png(values))
    return rows
