"""The per-strategy restart policy, sans-IO: crash -> backoff delay, or quarantine.

A crash is answered with an exponentially growing, jittered delay (:class:`Backoff`); more than
``max_restarts`` crashes within ``window_s`` seconds (:class:`RestartBudget`) quarantines the
strategy instead (invariant 2). A body that ran longer than ``max_backoff_s`` before crashing
was healthy for a while: its next delay starts from ``initial_backoff_s`` again (the budget
still counts the crash). Time is passed in (trio time in the daemon, anything in tests).
"""

from __future__ import annotations

import random

from ._config import RestartConfig
from .client._backoff import Backoff, RestartBudget

__all__ = ["RestartPolicy"]


class RestartPolicy:
    """Decides what follows a crash. Never blocks, never reads a clock."""

    def __init__(self, config: RestartConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._backoff = Backoff(
            config.initial_backoff_s, max(config.initial_backoff_s, config.max_backoff_s), rng=rng
        )
        self._budget = RestartBudget(config.max_restarts, config.window_s)

    def on_crash(self, now: float, ran_for: float) -> float | None:
        """The delay before restarting, or ``None``: the budget is spent, quarantine."""
        if not self._budget.record(now):
            return None
        if ran_for > self.config.max_backoff_s:
            self._backoff.reset()
        return self._backoff.next_delay()

    def crashes_in_window(self, now: float) -> int:
        return self._budget.used(now)

    def reset(self) -> None:
        """Forget history (an operator restarted the strategy)."""
        self._backoff.reset()
        self._budget.reset()
