"""The console's routes on the daemon's HTTP server (``/ui``, ``/ui/strategies/{name}``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any
from urllib.parse import unquote

from .._http import Handler, HttpRequest, HttpResponse
from .._money import MoneyBook
from ._logtail import LogTail
from ._render import index_page, strategies_table, strategy_page

__all__ = ["STRATEGY_PAGES", "console_routes", "with_money"]

STRATEGY_PAGES = "/ui/strategies/"  # + the strategy's name


def with_money(status: Mapping[str, Any], book: MoneyBook) -> dict[str, Any]:
    """The ``/status`` document with each strategy's last money reading under ``money``."""
    doc = dict(status)
    doc["strategies"] = [
        {**entry, "money": None if (m := book.get(entry["name"])) is None else m.as_dict()}
        for entry in status.get("strategies") or []
    ]
    return doc


def _html(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(status, body.encode(), "text/html; charset=utf-8")


def console_routes(
    status: Callable[[], Mapping[str, Any]],
    book: MoneyBook,
    tail: LogTail,
    *,
    wall_clock: Callable[[], float],
) -> dict[tuple[str, str], Handler]:
    """``(method, path) -> handler`` for ``serve_http(extra_routes=...)``; a path ending in ``*``
    is a prefix (the strategy pages)."""

    async def index(request: HttpRequest) -> HttpResponse:
        return _html(index_page(with_money(status(), book), wall_clock()))

    async def fragment(request: HttpRequest) -> HttpResponse:
        return _html(strategies_table(with_money(status(), book), wall_clock()))

    async def strategy(request: HttpRequest) -> HttpResponse:
        name = unquote(request.path.removeprefix(STRATEGY_PAGES))
        doc = with_money(status(), book)
        entry = next((s for s in doc["strategies"] if s["name"] == name), None)
        if entry is None:
            return _html(f"<p>no strategy named {escape(name)}</p>", 404)
        money = book.get(name)
        orders = [] if money is None else [{**o.__dict__, "filled": o.filled} for o in money.orders]
        page = strategy_page(entry, history=book.history(name), orders=orders, logs=tail.tail(name),
                             now=wall_clock())  # fmt: skip
        return _html(page)

    return {
        ("GET", "/ui"): index,
        ("GET", "/ui/strategies.html"): fragment,
        ("GET", STRATEGY_PAGES + "*"): strategy,
    }
