"""Money per strategy: the book (pure) and the reader against a real sandbox on virtual time."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from supervisor._money import RECENT_ORDERS, MoneyBook
from supervisor._money_reader import serve_money_reader
from supervisor.client import AsyncKiteAlgoWorkerClient, RunConfig, equity_market_order, limit_order
from supervisor.sandbox import SandboxHandle


def _event(order_id: str, status: str, cursor: int) -> dict[str, Any]:
    order = {"order_id": order_id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "buy",
             "quantity": 2, "status": status, "average_price": "1500.5" if status == "filled" else None,
             "updated_at": f"2026-06-10T05:30:{cursor:02d}+00:00"}  # fmt: skip
    return {"cursor": cursor, "event_kind": "execution", "payload": {"order": order}}


def test_the_book_keeps_the_reading_reports_each_fill_once_and_bounds_what_it_keeps() -> None:
    book = MoneyBook()
    pnl = {"totals": {"net_pnl": -12.5, "realized_pnl": 0, "unrealized_pnl": -10, "charges": 2.5},
           "legs": [{"exchange": "NSE", "tradingsymbol": "INFY", "net_quantity": 2, "average_price": 1500.5,
                     "last_price": 1495.5, "unrealized_pnl": -10, "net_pnl": -12.5}]}  # fmt: skip
    decision = {"cursor": 3, "event_kind": "decision", "payload": {"summary": "x"}}
    fills = book.record("infy", "run-1", pnl, [_event("A", "open", 1), decision], last_cursor=3, now=100.0)
    assert fills == [] and book.cursor("infy", "run-1") == 3 and book.cursor("infy", "run-2") == 0
    fills = book.record("infy", "run-1", pnl, [_event("A", "filled", 4)], last_cursor=4, now=105.0)
    assert [f.order_id for f in fills] == ["A"] and fills[0].average_price == 1500.5
    assert (
        book.record("infy", "run-1", pnl, [_event("A", "filled", 5)], last_cursor=5, now=110.0) == []
    )  # once
    money = book.get("infy")
    assert money is not None and money.net_pnl == -12.5 and money.open_positions == 1
    assert money.positions[0].symbol == "NSE:INFY" and money.last_order is not None
    assert money.as_dict()["last_order"]["status"] == "filled"
    assert book.history("infy") == [(100.0, -12.5), (105.0, -12.5), (110.0, -12.5)]
    book.failed("infy", "run-1", "ServerError: 503")
    failed = book.get("infy")
    assert failed is not None and failed.error == "ServerError: 503" and failed.net_pnl == -12.5
    many = [_event(f"O{i}", "open", 10 + i) for i in range(RECENT_ORDERS + 7)]
    book.record("infy", "run-1", pnl, many, last_cursor=100, now=115.0)
    kept = book.get("infy")
    assert kept is not None and len(kept.orders) == RECENT_ORDERS and kept.orders[-1].order_id == "O56"
    book.forget(["other"])
    assert book.get("infy") is None


async def _trade(client: AsyncKiteAlgoWorkerClient, run_id: str) -> None:
    config = RunConfig(strategy_run_id=run_id, template_id="t", account_scope="kite:paper-a",
                       execution_mode="paper")  # fmt: skip
    async with client.run(config) as run:
        safety = await run.safety_check()
        order = equity_market_order("INFY", "BUY", 3)
        await run.place_order(order, idempotency_key=f"{run_id}:buy", safety_token=safety.safety_token)
        resting = limit_order("NSE", "TCS", "BUY", "CNC", 1, price=1.0)  # far below the market: rests
        await run.place_order(resting, idempotency_key=f"{run_id}:rest")


async def test_the_reader_reads_pnl_positions_and_fills_of_every_run(
    sandbox: SandboxHandle,
    client: AsyncKiteAlgoWorkerClient,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
) -> None:
    await _trade(client, "money-a")
    book = MoneyBook()
    heard: list[tuple[str, list[str]]] = []
    runs = [("alpha", "money-a"), ("idle", "")]
    await nursery.start(
        partial(
            serve_money_reader,
            lambda: runs,
            client,
            book,
            wall_clock=trio.current_time,
            interval_s=5.0,
            on_fills=lambda name, orders: heard.append((name, [o.side for o in orders])),
        )
    )
    await trio.sleep(1)
    money = book.get("alpha")
    assert money is not None and money.error is None and book.get("idle") is None
    assert [(p.symbol, p.net_quantity) for p in money.positions] == [("NSE:INFY", 3)]
    pnl = await client.get_run_pnl("money-a")
    # prices move with every market step: the charges do not, and the reading adds up
    assert money.charges == pytest.approx(pnl["totals"]["charges"]) and money.charges > 0
    assert money.net_pnl == pytest.approx(money.realized_pnl + money.unrealized_pnl - money.charges)
    assert {(o.symbol, o.status) for o in money.orders} == {("NSE:INFY", "filled"), ("NSE:TCS", "open")}
    assert heard == [("alpha", ["BUY"])]
    await trio.sleep(10)  # two more cycles: nothing new, no second notice
    assert heard == [("alpha", ["BUY"])] and len(book.history("alpha")) == 3
    runs.append(("ghost", "no-such-run"))
    await trio.sleep(5)
    ghost = book.get("ghost")
    assert ghost is not None and ghost.error is not None and ghost.error.startswith("NotFoundError")
