"""The NSE calendar as data: trading days, index-option expiries and lot sizes (pure).

Facts, each with its source, so that a strategy tried here meets the dates and quantities the
real exchange uses:

* **Trading holidays** (equity and equity-derivatives segments) from the NSE circulars that
  publish each year's list ("Trading holidays for the calendar year ..."), plus holidays the
  exchange added later by circular. A year whose list the exchange has not published yet is
  *provisional*: only its fixed-date national holidays are known (``PROVISIONAL_YEARS``), and
  its festival holidays are missing until the list is added here.
* **Expiry weekday**: index derivatives expired on Thursdays (weekly, and monthly on the last
  Thursday of the month) until the August 2025 series; from 1 September 2025 (SEBI's
  expiry-day rationalisation, NSE circular of June 2025) they expire on Tuesdays, the first such
  expiry being 2 September 2025. An expiry that falls on a trading holiday moves to the previous
  trading day.
* **Weekly contracts**: NIFTY only; BANKNIFTY's weeklies ended with the 13 November 2024 expiry
  (SEBI's one-weekly-benchmark-per-exchange rule), so it has monthly contracts only.
* **Lot sizes** by contract expiry, from NSE's periodic lot-size revisions: NIFTY 75 and
  BANKNIFTY 30 from 20 November 2024; BANKNIFTY 35 from the July 2025 expiry (31 July 2025);
  NIFTY 65 and BANKNIFTY 30 from the January 2026 series (first weekly 6 January 2026, first
  monthly 27 January 2026; December 2025 contracts keep the old lots).

Invariant: ``expiries(u, now)`` lists exactly the contracts still trading at ``now``: an expiry
leaves at its close, 15:30 IST on the expiry day.
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
from dataclasses import dataclass, field

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
SESSION_OPEN = dt.time(9, 15)
SESSION_CLOSE = dt.time(15, 30)

_D = dt.date

# NSE trading holidays that fall on weekdays (weekend holidays change nothing here).
HOLIDAYS: dict[int, frozenset[dt.date]] = {
    # NSE circular of December 2024, "Trading holidays for the calendar year 2025".
    2025: frozenset(
        {
            _D(2025, 2, 26),  # Mahashivratri
            _D(2025, 3, 14),  # Holi
            _D(2025, 3, 31),  # Id-Ul-Fitr (Ramadan Eid)
            _D(2025, 4, 10),  # Shri Mahavir Jayanti
            _D(2025, 4, 14),  # Dr. Baba Saheb Ambedkar Jayanti
            _D(2025, 4, 18),  # Good Friday
            _D(2025, 5, 1),  # Maharashtra Day
            _D(2025, 8, 15),  # Independence Day
            _D(2025, 8, 27),  # Ganesh Chaturthi
            _D(2025, 10, 2),  # Mahatma Gandhi Jayanti / Dussehra
            _D(2025, 10, 21),  # Diwali Laxmi Pujan (a muhurat session only)
            _D(2025, 10, 22),  # Diwali Balipratipada
            _D(2025, 11, 5),  # Prakash Gurpurb Sri Guru Nanak Dev
            _D(2025, 12, 25),  # Christmas
        }
    ),
    # NSE circular of December 2025, "Trading holidays for the calendar year 2026", and the
    # circular of January 2026 closing the market for the Maharashtra municipal elections.
    2026: frozenset(
        {
            _D(2026, 1, 15),  # Municipal corporation elections in Maharashtra
            _D(2026, 1, 26),  # Republic Day
            _D(2026, 3, 3),  # Holi
            _D(2026, 3, 26),  # Shri Ram Navami
            _D(2026, 3, 31),  # Shri Mahavir Jayanti
            _D(2026, 4, 3),  # Good Friday
            _D(2026, 4, 14),  # Dr. Baba Saheb Ambedkar Jayanti
            _D(2026, 5, 1),  # Maharashtra Day
            _D(2026, 5, 28),  # Bakri Id
            _D(2026, 6, 26),  # Muharram
            _D(2026, 9, 14),  # Ganesh Chaturthi
            _D(2026, 10, 2),  # Mahatma Gandhi Jayanti
            _D(2026, 10, 20),  # Dussehra
            _D(2026, 11, 10),  # Diwali Balipratipada
            _D(2026, 11, 24),  # Prakash Gurpurb Sri Guru Nanak Dev
            _D(2026, 12, 25),  # Christmas
        }
    ),
    # Not yet published by NSE when this was written (it publishes each year's list in December):
    # only the holidays on fixed or computable dates that NSE has closed for every year, on the
    # weekdays they fall on (1 May, 15 August, 2 October and 25 December 2027 are weekend days).
    # Festival holidays are missing until the circular is added here (``PROVISIONAL_YEARS``).
    2027: frozenset(
        {
            _D(2027, 1, 26),  # Republic Day
            _D(2027, 3, 26),  # Good Friday
            _D(2027, 4, 14),  # Dr. Baba Saheb Ambedkar Jayanti
        }
    ),
}
PROVISIONAL_YEARS = frozenset({2027})

# Index-option expiries on or after this date fall on Tuesdays, before it on Thursdays.
TUESDAY_EXPIRIES_FROM = _D(2025, 9, 1)
# underlying -> ((first expiry the lot applies to, lot size), ...) in date order
LOT_SIZES: dict[str, tuple[tuple[dt.date, int], ...]] = {
    "NIFTY": ((_D(2024, 11, 20), 75), (_D(2026, 1, 1), 65)),
    "BANKNIFTY": ((_D(2024, 11, 20), 30), (_D(2025, 7, 1), 35), (_D(2026, 1, 1), 30)),
}
WEEKLY_UNDERLYINGS = frozenset({"NIFTY"})
MONTHLY_CONTRACTS = 3  # the near, next and far month, as NSE lists them


def expiry_weekday(day: dt.date) -> int:
    """The weekday (Monday 0) on which contracts of ``day``'s period expire: Thursday, then Tuesday."""
    return 1 if day >= TUESDAY_EXPIRIES_FROM else 3


def lot_size(underlying: str, expiry: dt.date) -> int:
    """The lot size of ``underlying``'s contracts expiring on ``expiry``. ``KeyError`` if unknown."""
    table = LOT_SIZES[underlying]
    lot = table[0][1]  # earlier expiries than the table covers take its first entry
    for first, size in table:
        if expiry >= first:
            lot = size
    return lot


@dataclass(frozen=True)
class Expiry:
    date: dt.date
    monthly: bool

    @property
    def close(self) -> dt.datetime:
        """The instant the contract stops trading: 15:30 IST on its expiry day."""
        return dt.datetime.combine(self.date, SESSION_CLOSE, IST)


@dataclass(frozen=True)
class NseCalendar:
    """Trading days and index-option expiries (module docstring). Never blocks, never reads the time."""

    holidays: dict[int, frozenset[dt.date]] = field(default_factory=lambda: HOLIDAYS)

    def is_holiday(self, day: dt.date) -> bool:
        return day in self.holidays.get(day.year, frozenset())

    def is_trading_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and not self.is_holiday(day)

    def previous_trading_day(self, day: dt.date) -> dt.date:
        """``day`` itself when it trades, else the last trading day before it."""
        while not self.is_trading_day(day):
            day -= dt.timedelta(days=1)
        return day

    def next_trading_day(self, day: dt.date) -> dt.date:
        """``day`` itself when it trades, else the first trading day after it."""
        while not self.is_trading_day(day):
            day += dt.timedelta(days=1)
        return day

    def session(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """The regular session's open and close on ``day`` (None on a non-trading day)."""
        if not self.is_trading_day(day):
            return None
        return dt.datetime.combine(day, SESSION_OPEN, IST), dt.datetime.combine(day, SESSION_CLOSE, IST)

    def monthly_expiry(self, year: int, month: int) -> dt.date:
        """The month's expiry: its last expiry weekday, moved back to a trading day."""
        last = _D(year, month, _cal.monthrange(year, month)[1])
        nominal = last - dt.timedelta(days=(last.weekday() - expiry_weekday(last)) % 7)
        if expiry_weekday(nominal) != nominal.weekday():  # the month straddles the weekday change
            nominal -= dt.timedelta(days=(nominal.weekday() - expiry_weekday(nominal)) % 7)
        return self.previous_trading_day(nominal)

    def expiries(self, underlying: str, now: dt.datetime, *, weeks: int = 4) -> list[Expiry]:
        """The contracts trading at ``now`` (aware), nearest first: ``weeks`` weekly expiries
        (NIFTY only) and the next ``MONTHLY_CONTRACTS`` monthly ones, each listed once."""
        today = now.astimezone(IST).date()
        monthly: list[Expiry] = []
        year, month = today.year, today.month
        while len(monthly) < MONTHLY_CONTRACTS:
            found = Expiry(self.monthly_expiry(year, month), True)
            if found.close > now:
                monthly.append(found)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        listed = {e.date: e for e in monthly}
        if underlying in WEEKLY_UNDERLYINGS:
            weekly: list[Expiry] = []
            day = today
            while len(weekly) < weeks:
                if day.weekday() == expiry_weekday(day):
                    found = Expiry(self.previous_trading_day(day), False)
                    if found.close > now:
                        weekly.append(listed.get(found.date, found))
                day += dt.timedelta(days=1)
            for e in weekly:
                listed.setdefault(e.date, e)
        return sorted(listed.values(), key=lambda e: e.date)


NSE = NseCalendar()
