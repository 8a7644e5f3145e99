"""The backtest's market clock: the sandbox's clock on trio's virtual time, with jumps.

Within a session the market's time advances exactly with trio's clock (``SandboxClock``), so a
strategy's ``trio.sleep(60)`` and the backend's freshness windows mean what they mean live.
Between sessions the driver calls ``jump_to`` (the next session's open): a night, weekend or
holiday then costs a few virtual seconds instead of 17 hours of heartbeats.
"""

from __future__ import annotations

import datetime as dt

import trio

from supervisor.sandbox._clock import SandboxClock


class BacktestClock(SandboxClock):
    """``SandboxClock`` plus the market time skipped by ``jump_to``. Never blocks.

    Must be constructed inside a running trio run, at the instant ``epoch`` should name.
    """

    def __init__(self, epoch: dt.datetime) -> None:
        # trio's own clock read: anyio's ``current_time`` (the default) looks its backend up on
        # every call, and the sandbox reads the time on every request and market step
        super().__init__(epoch, loop_time=trio.current_time)
        self._skipped = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return super().now() + self._skipped

    def loop_time_at(self, when: dt.datetime) -> float:
        return super().loop_time_at(when - self._skipped)

    def jump_to(self, when: dt.datetime) -> None:
        """Make ``now()`` equal ``when`` at once (forward only; ``ValueError`` otherwise)."""
        gap = when - self.now()
        if gap < dt.timedelta(0):
            raise ValueError(f"the clock only jumps forward ({when.isoformat()} is in the past)")
        self._skipped += gap
