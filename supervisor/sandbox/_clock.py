"""The sandbox's notion of wall-clock time, derived from the event loop's clock.

``SandboxClock.now()`` is ``epoch + (current_time() - loop_start)``: an aware UTC datetime that
advances exactly with trio's clock, so ``autojump_clock`` in tests moves the sandbox's "wall time"
too (session windows, safety-token expiry, stale-run recovery). Pure code never calls the clock; the
HTTP shell reads ``now()`` once per request and passes it down.

``$KITE_SANDBOX_CLOCK_START`` (an ISO 8601 instant with its offset, e.g.
``2026-12-03T16:00:00+05:30``; empty or ``now`` for the real time) starts every sandbox of a
process whose caller gave no epoch at that instant: the standalone server, the daemon's embedded
sandbox and the test suite's servers alike. So a whole run, the suite included, can be held at
any day and hour (an expiry day after its close, a weekend, a holiday) without touching the
machine's clock.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping

import anyio

UTC = dt.UTC
CLOCK_START_ENV = "KITE_SANDBOX_CLOCK_START"


def clock_start_from_env(environ: Mapping[str, str] = os.environ) -> dt.datetime | None:
    """The instant ``$KITE_SANDBOX_CLOCK_START`` names, or None (unset, empty or ``now``).

    Raises ``ValueError`` naming the variable for anything that is not an aware ISO 8601 instant.
    """
    raw = environ.get(CLOCK_START_ENV, "").strip()
    if not raw or raw.lower() == "now":
        return None
    try:
        start = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{CLOCK_START_ENV}={raw!r} is not an ISO 8601 instant") from None
    if start.tzinfo is None:
        raise ValueError(f"{CLOCK_START_ENV}={raw!r} needs a UTC offset, e.g. +05:30")
    return start


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
