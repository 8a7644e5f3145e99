"""Read every strategy's money from the backend on the daemon's own cadence.

One task for the whole daemon (``serve_money_reader``): every ``interval_s`` it reads, for each
strategy with a run, the run's grouped P&L and the ``execution`` events of its timeline since the
last reading, at most ``concurrency`` runs at a time, through the request client (never the
heartbeat client: a slow read can never delay a heartbeat). A failed read keeps the last figures
and says why; the next cycle tries again. Strategies never wait on it: they read the book.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import trio

from ._money import MoneyBook, OrderView
from .client import AsyncKiteAlgoWorkerClient, KiteAlgoWorkerError

__all__ = ["serve_money_reader"]

log = logging.getLogger("supervisor.money")
TIMELINE_PAGE = 200
TIMELINE_PAGES = 5  # per run and cycle: a busy run catches up over the next cycles


async def read_once(
    name: str,
    run_id: str,
    client: AsyncKiteAlgoWorkerClient,
    book: MoneyBook,
    now: float,
) -> list[OrderView]:
    """One run's reading into ``book``; returns the new fills. Raises the client's errors."""
    pnl: Any = await client.get_run_pnl(run_id)
    cursor = book.cursor(name, run_id)
    events: list[Any] = []
    for _ in range(TIMELINE_PAGES):
        page: Any = await client.list_timeline(
            run_id, after_cursor=cursor, limit=TIMELINE_PAGE, event_kind="execution"
        )
        batch = page.get("events") or []
        events += batch
        cursor = max(cursor, int(page.get("last_cursor") or cursor))
        if len(batch) < TIMELINE_PAGE:
            break
    return book.record(name, run_id, pnl, events, last_cursor=cursor, now=now)


async def serve_money_reader(
    runs: Callable[[], Iterable[tuple[str, str]]],
    client: AsyncKiteAlgoWorkerClient,
    book: MoneyBook,
    *,
    wall_clock: Callable[[], float],
    interval_s: float = 5.0,
    concurrency: int = 4,
    on_fills: Callable[[str, list[OrderView]], None] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Read ``runs()`` (``(strategy, run id)`` pairs) into ``book`` every ``interval_s`` until
    cancelled; ``on_fills(strategy, orders)`` hears of new fills. Never returns."""
    limiter = trio.CapacityLimiter(concurrency)

    async def one(name: str, run_id: str) -> None:
        async with limiter:
            try:
                fills = await read_once(name, run_id, client, book, wall_clock())
            except KiteAlgoWorkerError as exc:
                # kept, shown, retried next cycle: the backend is the truth, a gap is only a gap
                book.failed(name, run_id, f"{type(exc).__name__}: {exc}"[:300])
                return
        if fills and on_fills is not None:
            on_fills(name, fills)

    task_status.started()
    deadline = trio.current_time()
    while True:
        current = [(name, run_id) for name, run_id in runs() if run_id]
        book.forget(name for name, _ in current)
        async with trio.open_nursery() as nursery:
            for name, run_id in current:
                nursery.start_soon(one, name, run_id)
        deadline += interval_s
        if deadline <= trio.current_time():  # a slow cycle: skip what was missed, no burst
            deadline = trio.current_time() + interval_s
        await trio.sleep_until(deadline)
