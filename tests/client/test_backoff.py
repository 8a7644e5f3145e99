"""Backoff delays and the restart budget: exact values, with an injected RNG and passed-in time."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor.client._backoff import Backoff, RestartBudget


class FixedRandom(random.Random):
    """random() returns the given values in turn: 0.5 means "no jitter", 0 and 1 the extremes."""

    def __init__(self, *values: float) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def test_delays_double_up_to_the_maximum_without_jitter() -> None:
    backoff = Backoff(1.0, 30.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff.attempts == 7


def test_reset_starts_over() -> None:
    backoff = Backoff(0.5, 10.0, multiplier=3.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(3)] == [0.5, 1.5, 4.5]
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay() == 0.5


def test_jitter_scales_within_the_band() -> None:
    backoff = Backoff(10.0, 100.0, jitter=0.2, rng=FixedRandom(0.0, 1.0, 0.5, 0.25))
    assert backoff.next_delay() == pytest.approx(8.0)  # 10 * 0.8
    assert backoff.next_delay() == pytest.approx(24.0)  # 20 * 1.2
    assert backoff.next_delay() == pytest.approx(40.0)  # 40 * 1.0
    assert backoff.next_delay() == pytest.approx(72.0)  # 80 * 0.9


def test_jitter_never_exceeds_the_maximum() -> None:
    backoff = Backoff(10.0, 10.0, jitter=0.5, rng=FixedRandom(1.0, 0.0))
    assert backoff.next_delay() == 10.0
    assert backoff.next_delay() == 5.0


def test_same_seed_same_delays() -> None:
    first = Backoff(1.0, 60.0, rng=random.Random(42))
    second = Backoff(1.0, 60.0, rng=random.Random(42))
    assert [first.next_delay() for _ in range(20)] == [second.next_delay() for _ in range(20)]


def test_many_attempts_do_not_overflow() -> None:
    backoff = Backoff(1.0, 5.0, multiplier=10.0, jitter=0.0)
    for _ in range(5000):
        delay = backoff.next_delay()
    assert delay == 5.0


@given(
    initial=st.floats(0, 100),
    extra=st.floats(0, 1000),
    multiplier=st.floats(1, 10),
    jitter=st.floats(0, 1),
    seed=st.integers(),
)
def test_delays_stay_in_bounds(
    initial: float, extra: float, multiplier: float, jitter: float, seed: int
) -> None:
    backoff = Backoff(initial, initial + extra, multiplier, jitter, rng=random.Random(seed))
    previous_base = initial
    for _ in range(30):
        delay = backoff.next_delay()
        assert 0 <= delay <= initial + extra
        assert delay >= previous_base * (1 - jitter) - 1e-9
        previous_base = min(initial + extra, previous_base * multiplier)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"initial": -1.0, "maximum": 1.0}, "initial"),
        ({"initial": 2.0, "maximum": 1.0}, "maximum"),
        ({"initial": 1.0, "maximum": 2.0, "multiplier": 0.5}, "multiplier"),
        ({"initial": 1.0, "maximum": 2.0, "jitter": 1.5}, "jitter"),
    ],
)
def test_backoff_refuses_bad_settings(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**settings)


def test_backoff_repr() -> None:
    assert (
        repr(Backoff(1.0, 2.0)) == "Backoff(initial=1.0, maximum=2.0, multiplier=2.0, jitter=0.2, attempts=0)"
    )


# -- restart budget -----------------------------------------------------------------------------


def test_budget_allows_max_restarts_per_window() -> None:
    budget = RestartBudget(3, 60.0)
    assert [budget.record(t) for t in (0.0, 10.0, 20.0)] == [True, True, True]
    assert budget.record(30.0) is False  # a fourth within 60 s: quarantine
    assert budget.used(30.0) == 4


def test_budget_window_slides() -> None:
    budget = RestartBudget(2, 60.0)
    assert budget.record(0.0)
    assert budget.record(30.0)
    assert budget.record(59.999) is False
    # at t=90 the restarts at 0 and 30 are 90 and 60 s old: exactly window_s old no longer counts
    assert budget.used(90.0) == 1
    assert budget.record(90.0)
    assert budget.record(100.0) is False


def test_budget_boundary_is_exact() -> None:
    budget = RestartBudget(1, 10.0)
    assert budget.record(5.0)
    assert budget.record(14.999) is False
    budget.reset()
    assert budget.record(5.0)
    assert budget.record(15.0)  # the restart at 5.0 is exactly 10 s old


def test_zero_budget_never_allows() -> None:
    budget = RestartBudget(0, 1.0)
    assert budget.record(0.0) is False
    assert budget.record(100.0) is False


def test_reset_forgets_history() -> None:
    budget = RestartBudget(1, 3600.0)
    budget.record(0.0)
    assert budget.record(1.0) is False
    budget.reset()
    assert budget.used(1.0) == 0
    assert budget.record(2.0)


def test_memory_is_bounded() -> None:
    budget = RestartBudget(5, 1e9)
    for t in range(10_000):
        budget.record(float(t))
    assert budget.used(10_000.0) == 6


@pytest.mark.parametrize(("args", "message"), [((-1, 1.0), "max_restarts"), ((1, 0.0), "window_s")])
def test_budget_refuses_bad_settings(args: tuple[int, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RestartBudget(*args)
    assert "window_s=60" in repr(RestartBudget(1, 60))
