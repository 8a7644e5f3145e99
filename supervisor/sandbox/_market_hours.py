"""The market clock: when the synthetic exchange is in session (pure: time is passed in).

Two modes (``--market-hours``):

* ``always`` (the default, for development): always in session; nothing is ever refused for
  being out of hours and AMO orders go live on the next market step.
* ``nse``: the NSE regular session, 09:15 to 15:30 IST, on NSE trading days (weekdays that are
  not exchange holidays, ``_calendar``). There is no pre-open or post-close auction.
  Outside the session prices do not move and no ticks are produced; AMO orders are accepted
  only outside it, regular orders only inside (``_paper`` has the details).

Invariant: ``is_open(t)`` is true exactly for ``session_open(t) <= t < session_close(t)`` of a
trading day; ``next_open(t)`` is the first session start strictly after ``t`` when closed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from ._calendar import IST, NSE, SESSION_CLOSE, SESSION_OPEN, NseCalendar

__all__ = ["IST", "MODES", "NSE_CLOSE", "NSE_OPEN", "HoursMode", "MarketHours"]

NSE_OPEN = SESSION_OPEN
NSE_CLOSE = SESSION_CLOSE
MODES = ("always", "nse")

HoursMode = Literal["always", "nse"]


@dataclass(frozen=True)
class MarketHours:
    """A market clock; ``MarketHours.parse("nse")``. Never blocks, never reads the time."""

    mode: HoursMode = "always"
    calendar: NseCalendar = field(default=NSE, compare=False)

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
        return self.calendar.is_trading_day(local.date()) and NSE_OPEN <= local.time() < NSE_CLOSE

    def accepts_amo(self, now: dt.datetime) -> bool:
        """AMO orders are taken outside the session only (always, with ``always`` hours)."""
        return self.always_open or not self.is_open(now)

    def trades_in(self, start: dt.datetime, seconds: int) -> bool:
        """Whether the candle bucket ``[start, start + seconds)`` overlaps a session.

        Day buckets (``seconds >= 86400``) count on trading days (by their IST date)."""
        if self.always_open:
            return True
        if seconds >= 86400:
            return self.calendar.is_trading_day(start.astimezone(IST).date())
        return self.is_open(start) or self.is_open(start + dt.timedelta(seconds=seconds - 1))

    def next_open(self, now: dt.datetime) -> dt.datetime:
        """The start of the next session after ``now`` (``now`` itself when always open)."""
        if self.always_open:
            return now
        day = now.astimezone(IST).date()
        while True:
            start = dt.datetime.combine(day, NSE_OPEN, IST)
            if self.calendar.is_trading_day(day) and start > now:
                return start
            day += dt.timedelta(days=1)

    def last_close(self, now: dt.datetime) -> dt.datetime | None:
        """The end of the most recent session that ended at or before ``now`` (None: always open)."""
        if self.always_open:
            return None
        day = now.astimezone(IST).date()
        while True:
            end = dt.datetime.combine(day, NSE_CLOSE, IST)
            if self.calendar.is_trading_day(day) and end <= now:
                return end
            day -= dt.timedelta(days=1)

    def describe(self) -> str:
        if self.always_open:
            return "always open"
        return "NSE 09:15-15:30 IST on trading days"
