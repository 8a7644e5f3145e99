"""The loss breaker: pause a strategy whose run lost more than its configured limit.

It reads the backend's net P&L from the cockpit's money book (never its own arithmetic), and
when a run's loss reaches ``max_loss_inr`` (or ``max_loss_pct`` of the run's allocation cap, read
once from ``GET /worker/runs/{id}/funds``), it pauses the strategy (session kept, heartbeats go
on), logs a decision event on the run's timeline and notifies. It trips once per run: resuming
the strategy is the operator's decision, and the breaker does not pause it again for that run.
It never exits a run or places an order (invariant 1); the backend's protection does that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from ._cockpit_config import LossBreakerConfig
from ._money import MoneyBook
from ._notify import Notice
from .client import AsyncKiteAlgoWorkerClient, KiteAlgoWorkerError

__all__ = ["Trip", "breaker_limit", "serve_loss_breakers"]

log = logging.getLogger("supervisor.breaker")


def breaker_limit(config: LossBreakerConfig, allocation_cap: float | None) -> float | None:
    """The loss (INR, positive) at which the breaker trips; None when no limit applies yet."""
    limits = [] if config.max_loss_inr is None else [config.max_loss_inr]
    if config.max_loss_pct is not None and allocation_cap:
        limits.append(allocation_cap * config.max_loss_pct / 100)
    return min(limits) if limits else None


@dataclass(frozen=True)
class Trip:
    run_id: str
    net_pnl: float
    limit: float


async def serve_loss_breakers(
    supervisor: Any,
    book: MoneyBook,
    client: AsyncKiteAlgoWorkerClient,
    notify: Callable[[Notice], None],
    trips: dict[str, Trip],
    *,
    interval_s: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Check every configured breaker after each money reading until cancelled."""
    caps: dict[str, float | None] = {}  # run id -> allocation cap (read once per run)
    task_status.started()
    while True:
        await trio.sleep(interval_s)
        for name, runner in list(supervisor.runners.items()):
            config: LossBreakerConfig | None = runner.resolved.config.loss_breaker
            money = book.get(name)
            if config is None or money is None or money.read_at is None or money.run_id != runner.run_id:
                continue
            tripped = trips.get(name)
            if tripped is not None and tripped.run_id == runner.run_id:
                continue  # once per run: resuming is the operator's call
            if config.max_loss_pct is not None and runner.run_id not in caps:
                caps[runner.run_id] = await _allocation_cap(client, runner.run_id)
            limit = breaker_limit(config, caps.get(runner.run_id))
            if limit is None or -money.net_pnl < limit:
                continue
            trips[name] = Trip(runner.run_id, money.net_pnl, limit)
            result = runner.request_pause()
            text = (
                f"{name}: loss breaker tripped at net P&L {money.net_pnl:,.2f} INR (limit -{limit:,.2f}); "
                f"strategy {'paused' if result == 'pausing' else 'not running (' + runner.state + ')'}, "
                "session kept; nothing was exited"
            )
            log.error("%s", text)
            notify(Notice("loss_breaker", text, "critical", name, key=f"loss_breaker:{runner.run_id}"))
            meta = {"net_pnl": money.net_pnl, "limit_inr": limit, "paused": result == "pausing"}
            await runner.note(f"supervisor: loss breaker tripped, net P&L {money.net_pnl:.2f}", meta)


async def _allocation_cap(client: AsyncKiteAlgoWorkerClient, run_id: str) -> float | None:
    try:
        funds: Any = await client.get_run_funds(run_id)
    except KiteAlgoWorkerError as exc:
        log.warning("loss breaker: cannot read run %s's allocation (%s); INR limit only", run_id, exc)
        return None
    cap = ((funds.get("allocation") or {}).get("run") or {}).get("cap")
    return float(cap) if isinstance(cap, int | float) and cap > 0 else None
