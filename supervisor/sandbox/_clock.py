"""The sandbox's notion of wall-clock time, derived from the event loop's clock.

``SandboxClock.now()`` is ``epoch + (current_time() - loop_start)``: an aware UTC datetime that
advances exactly with trio's clock, so ``autojump_clock`` in tests moves the sandbox's "wall time"
too (session windows, safety-token expiry, stale-run recovery). Pure code never calls the clock; the
HTTP shell reads ``now()`` once per request and passes it down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import anyio

UTC = dt.UTC


class SandboxClock:
    """Wall time anchored to the running event loop's monotonic clock.

    ``epoch`` defaults to the real current UTC time at construction; tests may pin it. Must be
    constructed inside a running event loop (it reads the loop clock once). Never blocks.
    """

    def __init__(
        self,
        epoch: dt.datetime | None = None,
        *,
        loop_time: Callable[[], float] | None = None,
    ) -> None:
        if epoch is not None and epoch.tzinfo is None:
            raise ValueError("epoch must be timezone-aware")
        self._loop_time = loop_time or anyio.current_time
        # The loop clock first: anyio's first current_time() imports its backend (13-30 ms), and
        # a wall clock read before it would make every later now() lag real time by as much.
        self._start = self._loop_time()
        base = epoch if epoch is not None else dt.datetime.now(UTC)
        self._epoch = base.astimezone(UTC)

    def now(self) -> dt.datetime:
        """The current aware UTC time."""
        return self._epoch + dt.timedelta(seconds=self._loop_time() - self._start)

    def loop_time(self) -> float:
        """The event loop's monotonic time (for scheduling with deadlines)."""
        return self._loop_time()

    def loop_time_at(self, when: dt.datetime) -> float:
        """The loop time at which ``now()`` will equal ``when`` (for ``sleep_until``)."""
        return self._start + (when - self._epoch).total_seconds()
