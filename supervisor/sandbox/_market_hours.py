"""The market clock: when the synthetic exchange is in session (pure: time is passed in).

Two modes (``--market-hours``):

* ``always`` (the default, for development): always in session; nothing is ever refused for
  being out of hours and AMO orders go live on the next market step.
* ``nse``: the NSE regular session, 09:15 to 15:30 IST, Monday to Friday. Exchange holidays
  are ignored (every weekday is a trading day) and there is no pre-open or post-close auction.
  Outside the session prices do not move and no ticks are produced; AMO orders are accepted
  only outside it, regular orders only inside (``_paper`` has the details).

Invariant: ``is_open(t)`` is true exactly for ``session_open(t) <= t < session_close(t)`` of a
trading day; ``next_open(t)`` is the first session start strictly after ``t`` when closed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
NSE_OPEN = dt.time(9, 15)
NSE_CLOSE = dt.time(15, 30)
MODES = ("always", "nse")

HoursMode = Literal["always", "nse"]


@dataclass(frozen=True)
class MarketHours:
    """A market clock; ``MarketHours.parse("nse")``. Never blocks, never reads the time."""

    mode: HoursMode = "always"

    @classmethod
    def parse(cls, mode: str) -> MarketHours:
        """``always`` or ``nse``; raises ``ValueError`` for anything else."""
        if mode == "always":
            return cls("always")
        if mode == "nse":
            return cls("nse")
        raise ValueError(f"market hours must be one of {', '.join(MODES)}, not {mode!r}")

    @property
    def always_open(self) -> bool:
        return self.mode == "always"

    def is_open(self, now: dt.datetime) -> bool:
        """Whether ``now`` (aware) is inside a session."""
        if self.always_open:
            return True
        local = now.astimezone(IST)
        return local.weekday() < 5 and NSE_OPEN <= local.time() < NSE_CLOSE

    def accepts_amo(self, now: dt.datetime) -> bool:
        """AMO orders are taken outside the session only (always, with ``always`` hours)."""
        return self.always_open or not self.is_open(now)

    def trades_in(self, start: dt.datetime, seconds: int) -> bool:
        """Whether the candle bucket ``[start, start + seconds)`` overlaps a session.

        Day buckets (``seconds >= 86400``) count on weekdays (by their IST date)."""
        if self.always_open:
            return True
        if seconds >= 86400:
            return start.astimezone(IST).weekday() < 5
        return self.is_open(start) or self.is_open(start + dt.timedelta(seconds=seconds - 1))

    def next_open(self, now: dt.datetime) -> dt.datetime:
        """The start of the next session after ``now`` (``now`` itself when always open)."""
        if self.always_open:
            return now
        day = now.astimezone(IST).date()
        while True:
            start = dt.datetime.combine(day, NSE_OPEN, IST)
            if day.weekday() < 5 and start > now:
                return start
            day += dt.timedelta(days=1)

    def last_close(self, now: dt.datetime) -> dt.datetime | None:
        """The end of the most recent session that ended at or before ``now`` (None: always open)."""
        if self.always_open:
            return None
        day = now.astimezone(IST).date()
        while True:
            end = dt.datetime.combine(day, NSE_CLOSE, IST)
            if day.weekday() < 5 and end <= now:
                return end
            day -= dt.timedelta(days=1)

    def describe(self) -> str:
        if self.always_open:
            return "always open"
        return "NSE 09:15-15:30 IST, Monday to Friday"
