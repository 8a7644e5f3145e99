"""Retry pacing and restart budgets, sans-IO: the caller owns time and sleeping.

:class:`Backoff` yields exponentially growing, jittered delays for reconnects and restarts;
:class:`RestartBudget` answers "may this strategy restart again?" over a sliding window, so a
crash loop ends in quarantine instead of hammering the backend. Neither reads a clock nor
sleeps: the caller passes ``now`` (``trio.current_time()``) and sleeps the returned delay, which
keeps both exact under ``autojump_clock``. Randomness comes from an injectable
:class:`random.Random`, never the global one, so tests are deterministic.
"""

from __future__ import annotations

import random
from collections import deque

__all__ = ["Backoff", "RestartBudget"]


class Backoff:
    """Exponential backoff with proportional jitter.

    Attempt ``n`` (from 0) waits ``min(maximum, initial * multiplier**n)`` scaled by a uniform
    factor in ``[1 - jitter, 1 + jitter]``, and never more than ``maximum``. A server's
    ``Retry-After`` passed to :meth:`next_delay` is honoured (up to ``max_retry_after``, so a
    hostile or mistaken header cannot park a retry loop for hours), stretched by up to
    ``jitter`` so that clients told the same instant do not return together. Never blocks;
    the constructor raises :class:`ValueError` for nonsensical settings.
    """

    __slots__ = (
        "_base",
        "_rng",
        "attempts",
        "initial",
        "jitter",
        "max_retry_after",
        "maximum",
        "multiplier",
    )

    def __init__(
        self,
        initial: float,
        maximum: float,
        multiplier: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
        *,
        max_retry_after: float = 300.0,
    ) -> None:
        if not 0 <= initial <= maximum:
            raise ValueError(f"need 0 <= initial <= maximum, got initial={initial} maximum={maximum}")
        if multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {multiplier}")
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be in 0..1, got {jitter}")
        if max_retry_after < 0:
            raise ValueError(f"max_retry_after must be >= 0, got {max_retry_after}")
        self.max_retry_after = max_retry_after
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
        self._rng = rng if rng is not None else random.Random()
        self._base = initial
        self.attempts = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        """Return the delay in seconds before the next attempt and count the attempt.

        ``retry_after`` (the server's hint, seconds) makes the delay at least that long, up to
        ``max_retry_after``, plus up to ``jitter`` of it."""
        delay = self._base
        if self.jitter:
            delay *= 1 + self.jitter * (2 * self._rng.random() - 1)
        # grow the base incrementally (not multiplier**attempts) so it can never overflow
        self._base = min(self.maximum, self._base * self.multiplier)
        self.attempts += 1
        delay = min(self.maximum, delay)
        if retry_after is not None and retry_after > 0:
            asked = min(retry_after, self.max_retry_after)
            if self.jitter:
                asked *= 1 + self.jitter * self._rng.random()  # later, never earlier than asked
            delay = max(delay, asked)
        return delay

    def reset(self) -> None:
        """Start over from ``initial`` (call after a success)."""
        self._base = self.initial
        self.attempts = 0

    def __repr__(self) -> str:
        return (
            f"Backoff(initial={self.initial}, maximum={self.maximum}, multiplier={self.multiplier}, "
            f"jitter={self.jitter}, attempts={self.attempts})"
        )


class RestartBudget:
    """At most ``max_restarts`` restarts in any ``window_s`` seconds.

    :meth:`record` counts a restart at ``now`` and returns ``False`` once the budget is
    exhausted (more than ``max_restarts`` restarts younger than ``window_s``): the caller then
    quarantines instead of restarting. A restart exactly ``window_s`` old no longer counts.
    Memory is bounded by ``max_restarts + 1`` timestamps. Never blocks.
    """

    __slots__ = ("_times", "max_restarts", "window_s")

    def __init__(self, max_restarts: int, window_s: float) -> None:
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {max_restarts}")
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.max_restarts = max_restarts
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=max_restarts + 1)

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()

    def record(self, now: float) -> bool:
        """Count a restart at ``now``; ``True`` while within budget, ``False`` when exhausted."""
        self._expire(now)
        self._times.append(now)
        return len(self._times) <= self.max_restarts

    def used(self, now: float) -> int:
        """Restarts counted in the window ending at ``now`` (capped at ``max_restarts + 1``)."""
        self._expire(now)
        return len(self._times)

    def reset(self) -> None:
        """Forget every recorded restart (after an operator releases a quarantine)."""
        self._times.clear()

    def __repr__(self) -> str:
        return f"RestartBudget(max_restarts={self.max_restarts}, window_s={self.window_s})"
