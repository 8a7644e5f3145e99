"""The NSE calendar against the exchange's published facts (pure: time is passed in).

The expected values below are copied from the exchange's circulars (holiday lists, the move of
index expiries to Tuesday, the lot-size revisions), not computed by our code: they are the
outside judge of ``supervisor/sandbox/_calendar.py``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from supervisor.sandbox._calendar import HOLIDAYS, IST, NSE, PROVISIONAL_YEARS, lot_size

D = dt.date


def at(day: str, time: str = "12:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}:00+05:30")


def test_published_holiday_lists() -> None:
    # NSE: 14 weekday trading holidays in 2025; 16 in 2026 with the 15 January election closure
    assert len(HOLIDAYS[2025]) == 14 and len(HOLIDAYS[2026]) == 16
    for day in ("2025-02-26", "2025-03-14", "2025-10-21", "2025-10-22", "2025-12-25", "2026-01-15",
                "2026-01-26", "2026-03-03", "2026-03-31", "2026-11-24", "2026-12-25"):  # fmt: skip
        assert not NSE.is_trading_day(D.fromisoformat(day)), day
    assert all(d.weekday() < 5 for year in HOLIDAYS.values() for d in year)
    assert NSE.is_trading_day(D(2026, 6, 10)) and not NSE.is_trading_day(D(2026, 6, 13))  # Wed, Sat
    assert {2027} == PROVISIONAL_YEARS and D(2027, 1, 26) in HOLIDAYS[2027]


@pytest.mark.parametrize(
    ("year", "month", "expiry"),
    [
        (2025, 1, "2025-01-30"),  # last Thursday
        (2025, 8, "2025-08-28"),  # the last Thursday monthly expiry
        (2025, 9, "2025-09-30"),  # Tuesdays from September 2025
        (2025, 12, "2025-12-30"),
        (2026, 1, "2026-01-27"),
        (2026, 3, "2026-03-30"),  # 31 March 2026 is Shri Mahavir Jayanti: the Monday before
        (2026, 11, "2026-11-23"),  # 24 November 2026 is Prakash Gurpurb: the Monday before
        (2027, 1, "2027-01-25"),  # 26 January 2027 is Republic Day
    ],
)
def test_monthly_expiry(year: int, month: int, expiry: str) -> None:
    assert NSE.monthly_expiry(year, month) == D.fromisoformat(expiry)


def test_weekly_expiries_move_to_tuesday_and_before_holidays() -> None:
    nifty = [e.date for e in NSE.expiries("NIFTY", at("2025-08-20"), weeks=4)]
    # Thursday 21 and 28 August, then the first Tuesday expiry, 2 September 2025
    assert nifty[:4] == [D(2025, 8, 21), D(2025, 8, 28), D(2025, 9, 2), D(2025, 9, 9)]
    holi = [e.date for e in NSE.expiries("NIFTY", at("2026-02-27"))]
    assert holi[0] == D(2026, 3, 2)  # Tuesday 3 March 2026 is Holi: Monday 2 March
    thursday = [e.date for e in NSE.expiries("NIFTY", at("2025-04-07"))]
    assert thursday[0] == D(2025, 4, 9)  # Thursday 10 April 2025 is Mahavir Jayanti


def test_banknifty_has_monthly_contracts_only() -> None:
    listed = NSE.expiries("BANKNIFTY", at("2026-06-10"))
    assert [e.date for e in listed] == [D(2026, 6, 30), D(2026, 7, 28), D(2026, 8, 25)]
    assert all(e.monthly for e in listed)


@pytest.mark.parametrize(
    ("underlying", "expiry", "lot"),
    [
        ("NIFTY", "2025-06-26", 75),
        ("NIFTY", "2025-12-23", 75),  # the last weekly with the old lot
        ("NIFTY", "2025-12-30", 75),
        ("NIFTY", "2026-01-06", 65),  # the first weekly of the January 2026 series
        ("NIFTY", "2026-01-27", 65),
        ("BANKNIFTY", "2025-06-26", 30),
        ("BANKNIFTY", "2025-07-31", 35),  # the first monthly with 35
        ("BANKNIFTY", "2025-12-30", 35),
        ("BANKNIFTY", "2026-01-27", 30),
    ],
)
def test_lot_size_by_contract_expiry(underlying: str, expiry: str, lot: int) -> None:
    assert lot_size(underlying, D.fromisoformat(expiry)) == lot


def test_a_contract_leaves_the_list_at_its_close() -> None:
    before = NSE.expiries("NIFTY", at("2026-12-01", "15:29"))
    after = NSE.expiries("NIFTY", at("2026-12-01", "15:30"))
    assert before[0].date == D(2026, 12, 1) and after[0].date == D(2026, 12, 8)
    assert after[0].close == dt.datetime(2026, 12, 8, 15, 30, tzinfo=IST)
    # an expiry day's session: the contract trades to the close, never after
    assert NSE.session(D(2026, 12, 1)) == (at("2026-12-01", "09:15"), at("2026-12-01", "15:30"))
    assert NSE.session(D(2026, 12, 5)) is None  # Saturday
