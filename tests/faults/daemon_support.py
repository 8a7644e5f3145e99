"""Strategies, a full state directory and helpers for the daemon's fault tests
(``test_daemon_*.py``). The fixtures of ``tests/daemon`` are reused from there."""

from __future__ import annotations

import errno
import os
import threading
from typing import Any, ClassVar

import trio

from supervisor._config import RunSection, StrategyConfig
from supervisor._plugins import ResolvedStrategy
from supervisor._statedir import StateDir
from supervisor._strategy import Strategy, StrategyContext
from supervisor.client import equity_market_order


class Idle(Strategy):
    """Reports progress every second until asked to stop."""

    async def run(self, ctx: StrategyContext) -> None:
        while not ctx.stopping.is_set():
            ctx.progress(ticks=1)
            with trio.move_on_after(1):
                await ctx.stopping.wait()


class StuckInThread(Strategy):
    """Blocks in a worker thread that never returns: trio cannot cancel it (the fault of
    issue 11, failure 2)."""

    async def run(self, ctx: StrategyContext) -> None:
        await trio.to_thread.run_sync(threading.Event().wait)


class BuysAtOnce(Strategy):
    """Places one paper order as soon as it starts, then waits for shutdown."""

    starts: ClassVar[int] = 0

    async def run(self, ctx: StrategyContext) -> None:
        type(self).starts += 1
        safety = await ctx.run.safety_check()
        await ctx.run.place_order(
            equity_market_order("INFY", "BUY", 1),
            idempotency_key=ctx.key("entry"),
            safety_token=safety.safety_token,
        )
        await ctx.stopping.wait()


class ProgressOnceThenHangs(Strategy):
    """Reports progress once, then hangs without awaiting anything useful (a hung strategy
    that still awaits: heartbeats go on, the strategy does nothing)."""

    starts: ClassVar[int] = 0

    async def run(self, ctx: StrategyContext) -> None:
        type(self).starts += 1
        ctx.progress(step=1)
        await trio.sleep_forever()


class FullStateDir(StateDir):
    """A state directory on a full disk: durable writes fail with ``ENOSPC`` while ``full``.

    A seam, because a full disk has no real counterpart in a test; everything else (the
    directory, the reads, the non-durable writes) is the real :class:`StateDir`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.full = True
        self.refused = 0

    def save(self, name: str, run_id: str, nonce: str | None, *, durable: bool = True) -> None:
        if self.full and durable:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super().save(name, run_id, nonce, durable=durable)


def strategy(name: str, cls: type[Strategy], *, run_id: str | None = None, **fields: Any) -> ResolvedStrategy:
    """A resolved strategy; ``fields`` are extra ``StrategyConfig`` fields (e.g.
    ``progress_deadline_s``) validated as the YAML would be."""
    config = StrategyConfig.model_validate(
        {
            "name": name,
            "plugin": name,
            "run": RunSection(
                strategy_run_id=run_id or f"run-{name}",
                template_id="tmpl",
                account_scope="kite:paper-a",
                execution_mode="paper",
            ),
            **fields,
        }
    )
    return ResolvedStrategy(config, cls, cls.Params.model_validate({}))


def plugins(**classes: str) -> dict[str, str]:
    """Entry points (name -> ``module:Class``) for classes of this module, for
    :func:`tests.daemon.process.install_plugins`."""
    return {name: f"tests.faults.daemon_support:{cls}" for name, cls in classes.items()}
