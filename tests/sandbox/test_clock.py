"""SandboxClock: wall time anchored to the loop clock, with no lag from a slow first loop read."""

from __future__ import annotations

import datetime as dt

import pytest
import trio
import trio.testing

from supervisor.sandbox import SandboxClock

UTC = dt.UTC


def test_wall_clock_is_read_after_a_slow_first_loop_read() -> None:
    # anyio's first current_time() imports its backend; the clock must not lag by that time
    loop_reads: list[dt.datetime] = []

    def slow_first_read() -> float:
        if not loop_reads:
            started = dt.datetime.now(UTC)
            while dt.datetime.now(UTC) == started:  # take at least one tick of the wall clock
                pass
        loop_reads.append(dt.datetime.now(UTC))
        return 100.0

    clock = SandboxClock(loop_time=slow_first_read)
    assert clock.now() >= loop_reads[0]  # the anchor was taken after the slow read returned


def test_now_follows_the_loop_clock_from_a_pinned_epoch() -> None:
    epoch = dt.datetime(2026, 11, 24, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    loop = [50.0]
    clock = SandboxClock(epoch, loop_time=lambda: loop[0])
    loop[0] = 62.5
    assert clock.now() == dt.datetime(2026, 11, 24, 3, 45, 12, 500000, tzinfo=UTC)
    assert clock.loop_time() == 62.5
    assert clock.loop_time_at(dt.datetime(2026, 11, 24, 3, 46, tzinfo=UTC)) == 110.0


def test_naive_epoch_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SandboxClock(dt.datetime(2026, 11, 24), loop_time=lambda: 0.0)


async def test_default_clock_runs_on_trio_virtual_time(autojump_clock: trio.testing.MockClock) -> None:
    epoch = dt.datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    clock = SandboxClock(epoch)
    await trio.sleep(90)
    assert clock.now() == epoch + dt.timedelta(seconds=90)
