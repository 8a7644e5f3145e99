"""The backtest's pure parts: candle parsing, the replay's steps, the report's figures, the PNG."""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from decimal import Decimal
from typing import Any

import pytest

from supervisor.backtest import Candle, DataError, parse_candles_csv, replay_steps, synthetic_steps
from supervisor.backtest._bars import ReplayBars
from supervisor.backtest._data import format_candles_csv
from supervisor.backtest._png import line_chart_png
from supervisor.backtest._replay import step_volume
from supervisor.backtest._report import max_drawdown, round_trips
from supervisor.sandbox import _candles
from supervisor.sandbox._market_hours import IST, MarketHours
from supervisor.sandbox._path import PricePath, merge

NSE = MarketHours.parse("nse")
CSV = (
    "date,open,high,low,close,volume,oi\n"
    "2026-06-10 09:15:00,10,11,9,10.5,5,\n"  # no offset: IST
    "2026-06-10T09:16:00+05:30,10.5,11,10,10,7,\n"
)


def test_csv_in_kites_shape_parses_with_ist_as_the_default_zone() -> None:
    candles = parse_candles_csv(CSV, source="x.csv")
    assert candles == [
        Candle(dt.datetime(2026, 6, 10, 9, 15, tzinfo=IST), 10.0, 11.0, 9.0, 10.5, 5),
        Candle(dt.datetime(2026, 6, 10, 9, 16, tzinfo=IST), 10.5, 11.0, 10.0, 10.0, 7),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date,open,high,low,close\n", "x.csv:1: missing column(s) volume"),
        ("date,open,high,low,close,volume\n2026-06-10 09:15:00,10,9,8,10,1\n", "x.csv:2: not a candle"),
        ("date,open,high,low,close,volume\nnope,1,1,1,1,1\n", "x.csv:2: "),
        (CSV.splitlines()[0] + "\n" + CSV.splitlines()[2] + "\n" + CSV.splitlines()[1] + "\n", "x.csv:3: "),
    ],
)
def test_bad_files_are_refused_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(DataError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_candles_csv(text, source="x.csv")


def test_a_candle_is_four_steps_through_the_path_that_does_not_flatter() -> None:
    up, down = parse_candles_csv(CSV)
    steps, dropped = replay_steps({"NSE:INFY": [up, down]}, bar_seconds=60, hours=NSE)
    assert dropped == 0
    assert [(s.when.astimezone(IST).strftime("%H:%M:%S"), s.prices, s.bar_end) for s in steps] == [
        ("09:15:00", {"INFY": 10.0}, False),
        ("09:15:15", {"INFY": 9.0}, False),  # an up bar went down first
        ("09:15:30", {"INFY": 11.0}, False),
        ("09:15:45", {"INFY": 10.5}, True),
        ("09:16:00", {"INFY": 10.5}, False),
        ("09:16:15", {"INFY": 11.0}, False),  # a down bar went up first
        ("09:16:30", {"INFY": 10.0}, False),
        ("09:16:45", {"INFY": 10.0}, True),
    ]


def test_candles_outside_the_session_are_dropped_and_counted() -> None:
    night = Candle(dt.datetime(2026, 6, 10, 20, 0, tzinfo=IST), 1, 1, 1, 1, 1)
    sunday = Candle(dt.datetime(2026, 6, 14, 10, 0, tzinfo=IST), 1, 1, 1, 1, 1)
    steps, dropped = replay_steps({"NSE:TCS": [night, sunday]}, bar_seconds=60, hours=NSE)
    assert (steps, dropped) == ([], 2)


def test_the_seeded_market_steps_four_times_a_minute_through_each_session() -> None:
    start = dt.datetime(2026, 6, 12, tzinfo=IST)  # a Friday, then a weekend, then Monday
    steps = list(synthetic_steps(start, start + dt.timedelta(days=4), hours=NSE))
    assert len(steps) == 2 * 375 * 4
    assert {s.when.astimezone(IST).date() for s in steps} == {dt.date(2026, 6, 12), dt.date(2026, 6, 15)}
    assert sum(s.bar_end for s in steps) == 2 * 375
    assert steps[3].bar_end and steps[3].when.astimezone(IST).time() == dt.time(9, 15, 45)


def test_replayed_bars_are_the_steps_with_flat_gaps_and_no_day_without_data() -> None:
    at = dt.datetime(2026, 6, 10, 9, 15, tzinfo=IST)  # a Wednesday; Thursday has no data
    first = Candle(at + dt.timedelta(minutes=1), 10.0, 11.0, 9.0, 10.5, 10)
    later = Candle(at + dt.timedelta(minutes=3), 10.5, 12.0, 10.0, 11.0, 7)  # minute 2: none
    friday = Candle(at + dt.timedelta(days=2, minutes=2), 11.5, 11.5, 11.0, 11.0, 4)
    steps, _ = replay_steps({"NSE:INFY": [first, later, friday]}, bar_seconds=60, hours=NSE)
    assert [step_volume(s.volumes["INFY"], s.substep) for s in steps[:4] if s.volumes] == [2, 3, 2, 3]
    infy = ReplayBars(steps, NSE)("INFY")
    wednesday, thursday, friday_day = at.date(), dt.date(2026, 6, 11), dt.date(2026, 6, 12)
    bars = infy.minute_bars(wednesday)
    assert len(bars) == 375 and infy.first_day() == wednesday
    flat = (10.0, 10.0, 10.0, 10.0, 0)  # before the first trade: at it (no earlier data)
    assert [tuple(b[1:]) for b in bars[:5]] == [
        flat, (10.0, 11.0, 9.0, 10.5, 10), (10.5, 10.5, 10.5, 10.5, 0), (10.5, 12.0, 10.0, 11.0, 7),
        (11.0, 11.0, 11.0, 11.0, 0),
    ]  # fmt: skip
    assert bars[-1][1:] == (11.0, 11.0, 11.0, 11.0, 0)  # the last price to the close
    # the part of a minute shown: its steps at or before the second (open, low, high, close)
    assert tuple(infy.partial_minute(wednesday, 1, 14)[1:]) == (10.0, 10.0, 10.0, 10.0, 2)
    assert tuple(infy.partial_minute(wednesday, 1, 15)[1:]) == (10.0, 10.0, 9.0, 9.0, 5)
    assert tuple(infy.partial_minute(wednesday, 1, 59)[1:]) == (10.0, 11.0, 9.0, 10.5, 10)
    # a day without data has no bars; a day starting late opens flat at the last close
    assert (infy.minute_bars(thursday), infy.day_bar(thursday)) == ([], None)
    day_bar = infy.day_bar(friday_day)
    assert day_bar is not None and tuple(day_bar[1:]) == (11.0, 11.5, 11.0, 11.0, 4)
    assert infy.session_so_far(friday_day, 2, 0) == (
        (day_bar.start, 11.0, 11.5, 11.0, 11.5, 1), 11.0  # open/close 11.0 via Wednesday's close
    )  # fmt: skip
    # an instrument without data: no candles at all, and the walk back ends at the first day
    tcs = ReplayBars(steps, NSE)("TCS")
    path = PricePath(0, NSE)
    later_on = at + dt.timedelta(days=2, hours=1)
    assert _candles.recent(path, tcs, later_on, seconds=300, lookback=5, now=later_on) == ([], None)
    assert _candles.history(path, tcs, 60, at, at + dt.timedelta(days=3)) == []


def test_coarser_data_cuts_into_minutes_that_merge_back_into_its_candles() -> None:
    at = dt.datetime(2026, 6, 10, 9, 15, tzinfo=IST)
    candle = Candle(at, 10.0, 12.0, 9.0, 11.0, 9)  # steps at 0, 75, 150 and 225 s
    steps, _ = replay_steps({"NSE:INFY": [candle]}, bar_seconds=300, hours=NSE)
    infy = ReplayBars(steps, NSE)("INFY")
    bars = infy.minute_bars(at.date())
    assert [tuple(b[1:]) for b in bars[:5]] == [
        (10.0, 10.0, 10.0, 10.0, 2), (9.0, 9.0, 9.0, 9.0, 2), (12.0, 12.0, 12.0, 12.0, 2),
        (11.0, 11.0, 11.0, 11.0, 3), (11.0, 11.0, 11.0, 11.0, 0),
    ]  # fmt: skip
    assert tuple(merge(bars[:5])[1:]) == tuple(candle[1:])


def trade(side: str, qty: int, price: str, order: str) -> dict[str, Any]:
    return {
        "metadata": {"strategy_run_id": "r"},
        "tradingsymbol": "INFY",
        "product": "MIS",
        "order_id": order,
        "quantity": qty,
        "price": price,
        "transaction_type": side,
    }


def test_round_trips_close_at_flat_and_through_zero_net_of_charges() -> None:
    trades = [
        trade("buy", 2, "100", "o1"),
        trade("sell", 2, "103", "o2"),  # +6
        trade("sell", 1, "103", "o3"),
        trade("buy", 3, "104", "o4"),  # -1 through zero: long 2 at 104
        trade("sell", 2, "103", "o5"),  # -2
    ]
    fees = {f"o{i}": Decimal("0.5") for i in range(1, 6)}
    assert round_trips(trades, fees) == [Decimal("5.0"), Decimal("-2.0"), Decimal("-2.5")]


def test_drawdown_is_the_deepest_fall_from_a_running_peak_that_starts_at_zero() -> None:
    assert max_drawdown([-3.0, 5.0, 1.0, 4.0, -2.0, 10.0]) == 7.0
    assert max_drawdown([1.0, 2.0]) == 0.0


def test_the_equity_png_is_a_valid_rgb_image_and_the_same_points_give_the_same_bytes() -> None:
    png = line_chart_png([0.0, 5.0, -2.0, 3.0], width=120, height=50)
    assert png == line_chart_png([0.0, 5.0, -2.0, 3.0], width=120, height=50)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert (kind, length, width, height, depth, colour) == (b"IHDR", 13, 120, 50, 8, 2)
    idat = png.index(b"IDAT")
    size = struct.unpack(">I", png[idat - 4 : idat])[0]
    raw = zlib.decompress(png[idat + 4 : idat + 4 + size])
    assert len(raw) == 50 * (1 + 120 * 3)
    assert bytes((31, 119, 180)) in raw  # the curve is drawn


def test_formatted_candles_parse_back_to_the_same_candles() -> None:
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    candles = [
        Candle(dt.datetime(2026, 6, 10, 9, 15, tzinfo=ist), 100.1, 101.25, 99.05, 100.5, 10),
        Candle(dt.datetime(2026, 6, 10, 9, 16, tzinfo=ist), 100.5, 100.5, 0.3, 0.1 + 0.2, 0),
    ]
    text = format_candles_csv(candles)
    assert text.splitlines()[0] == "date,open,high,low,close,volume"
    assert parse_candles_csv(text) == candles  # floats exactly (repr), offsets kept
