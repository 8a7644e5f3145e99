"""Transient or permanent, decided once (style rule 10): the classification next to the error
tree, the backoff that honours Retry-After, and how the hub acts on each class (in-memory
upstream, virtual time; the real sandbox's faults are in ``tests/faults``)."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
import trio

from supervisor.client._backoff import Backoff
from supervisor.client._errors import (
    AuthError,
    BrokerValidationError,
    ErrorClass,
    OrderRuleError,
    ServerError,
    StreamError,
    StreamIdleTimeout,
    TransportError,
    classify_error,
    error_for_response,
    retry_after_hint,
)
from supervisor.hub import Candle, Tick, open_stream_hub

from .conftest import FakeUpstream, tick

T, R, D = ErrorClass.TRANSIENT, ErrorClass.REQUEST, ErrorClass.DENIED


class FixedRandom(random.Random):
    def __init__(self, *values: float) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(400, R), (401, D), (403, D), (404, R), (408, T), (409, R), (422, R), (429, T), (500, T), (503, T)],
)
def test_every_status_has_one_class(status: int, verdict: ErrorClass) -> None:
    error = error_for_response(status, {"detail": "x"}, method="GET", route="/worker/x")
    assert classify_error(error) is verdict


def test_errors_without_a_status_are_classified_by_what_they_say() -> None:
    unknown = StreamError(
        "stream error", response_body={"detail": "At least one valid symbol or instrument token is required"}
    )
    assert classify_error(unknown) is R  # every instrument it asked for is unknown (§5.2)
    assert classify_error(StreamError("stream error", response_body={"detail": "upstream failure"})) is T
    assert classify_error(StreamIdleTimeout("idle")) is T
    assert classify_error(TransportError("connect")) is T
    assert classify_error(OrderRuleError("bad", rule="r")) is R  # refused before it was sent
    assert classify_error(OSError("reset")) is T
    assert classify_error(ValueError("a bug")) is T  # never a permanent state without a reason


def test_retry_after_travels_on_429_and_5xx() -> None:
    def answer(status: int) -> BaseException:
        return error_for_response(status, {}, method="GET", route="/x", retry_after=7.0)

    assert retry_after_hint(answer(429)) == 7.0
    assert retry_after_hint(answer(503)) == 7.0
    assert retry_after_hint(answer(404)) is None
    assert retry_after_hint(TransportError("x")) is None


def test_backoff_waits_at_least_retry_after_capped_and_only_later() -> None:
    backoff = Backoff(1.0, 4.0, jitter=0.0, max_retry_after=60.0)
    assert [backoff.next_delay(r) for r in (None, 3.0, 0.5, 600.0, None)] == [1.0, 3.0, 4.0, 60.0, 4.0]
    jittered = Backoff(1.0, 4.0, jitter=0.5, rng=FixedRandom(0.5, 1.0, 0.5, 0.0))
    assert jittered.next_delay(10.0) == 15.0  # stretched by up to `jitter`: clients spread out
    assert jittered.next_delay(10.0) == 10.0  # never earlier than asked
    with pytest.raises(ValueError, match="max_retry_after"):
        Backoff(1.0, 2.0, max_retry_after=-1.0)


def hub_kwargs(upstream: FakeUpstream, **kw: Any) -> dict[str, Any]:
    return {"opener": upstream.open, "backoff": lambda: Backoff(initial=1.0, maximum=4.0, jitter=0.0), **kw}


async def test_5xx_and_429_are_retried_with_backoff_and_retry_after(
    upstream: FakeUpstream, autojump_clock: Any
) -> None:
    upstream.refusals = [
        ServerError("down", status_code=503),
        error_for_response(429, {}, method="GET", route="/x", retry_after=10.0),
        ServerError("down", status_code=502),
    ]
    with trio.fail_after(60):
        async with (
            open_stream_hub(**hub_kwargs(upstream)) as hub,
            hub.candles("NSE:INFY", "minute", subscriber="a") as a,
        ):
            start = trio.current_time()
            # retried after 1 s, then the 10 s asked for (not 2 s), then 4 s
            await trio.sleep_until(start + 14.99)
            assert len(upstream.opens) == 3
            await trio.sleep_until(start + 15.01)
            assert len(upstream.opens) == 4
            upstream.emit("candles", "NSE:INFY", {"candle": {"ts": "t", "close": 1.0}})
            assert isinstance(await a.__anext__(), Candle)
            assert hub.statistics().retries == {"candles": 3} and hub.statistics().failures == {}


async def test_an_unmapped_exception_is_retried_and_logged_with_its_traceback(
    upstream: FakeUpstream, autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.refusals = [KeyError("a bug in an opener")]
    with trio.fail_after(60), caplog.at_level(logging.WARNING, "supervisor.hub"):
        async with (
            open_stream_hub(**hub_kwargs(upstream)) as hub,
            hub.pnl("run-1", 1.0, subscriber="a") as a,
        ):
            upstream_ready = trio.current_time() + 1.0
            await trio.sleep_until(upstream_ready + 0.01)
            upstream.emit("pnl", "run-1", {"run_id": "run-1", "total_pnl": 5.0})
            assert (await a.__anext__()).total_pnl == 5.0
            assert hub.statistics().retries == {"pnl": 1}
    (record,) = [r for r in caplog.records if r.name == "supervisor.hub"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], KeyError)


async def test_denied_fails_every_topic_of_a_union_without_probing(
    upstream: FakeUpstream, autojump_clock: Any
) -> None:
    upstream.refusals = [AuthError("token revoked", status_code=401)]
    with trio.fail_after(60):
        async with (
            open_stream_hub(**hub_kwargs(upstream)) as hub,
            hub.ticks([1], subscriber="a") as a,
            hub.ticks([2], subscriber="b") as b,
        ):
            with pytest.raises(AuthError) as first:
                await a.__anext__()
            with pytest.raises(AuthError) as second:
                await b.receive_batch()
            assert first.value is not second.value
            assert first.value.__cause__ is not second.value.__cause__
            assert len(upstream.opens) == 1  # no probe: the token is refused, not an instrument
            assert hub.statistics().failures == {"ticks": 2}


def refused(detail: str = "Invalid instrument token") -> BrokerValidationError:
    return BrokerValidationError(detail, status_code=422)


async def test_a_union_refused_with_a_4xx_is_bisected_to_the_refused_instrument(
    upstream: FakeUpstream, autojump_clock: Any
) -> None:
    upstream.refusals = [refused(), None, refused()]  # the union; probe [1] opens; probe [2]
    with trio.fail_after(60):
        async with (
            open_stream_hub(**hub_kwargs(upstream)) as hub,
            hub.ticks([1], subscriber="a") as a,
            hub.ticks([2], subscriber="b") as b,
        ):
            with pytest.raises(BrokerValidationError):
                await b.__anext__()
            await trio.sleep(0.1)  # the union resubscribes without the refused instrument
            assert [o[1]["instruments"] for o in upstream.opens] == [[1, 2], [1], [2], [1]]
            upstream.emit_to((1,), {"ticks": [tick(1, 1.0)]})
            got = await a.__anext__()
            assert isinstance(got, Tick) and got.last_price == 1.0
            assert hub.statistics().failures == {"ticks": 1} and hub.statistics().upstream_streams == 1


async def test_a_probe_failing_transiently_retries_the_union_instead_of_guessing(
    upstream: FakeUpstream, autojump_clock: Any
) -> None:
    upstream.refusals = [refused(), ServerError("down", status_code=503)]
    with trio.fail_after(60):
        async with (
            open_stream_hub(**hub_kwargs(upstream)) as hub,
            hub.ticks([1], subscriber="a") as a,
            hub.ticks([2], subscriber="b") as b,
        ):
            await trio.sleep(1.1)  # the backoff's 1 s, then the whole union again
            assert [o[1]["instruments"] for o in upstream.opens] == [[1, 2], [1], [1, 2]]
            upstream.emit_to((1, 2), {"ticks": [tick(1, 1.0), tick(2, 2.0)]})
            assert (await a.__anext__()).last_price == 1.0
            assert (await b.__anext__()).last_price == 2.0
            assert hub.statistics().failures == {} and hub.statistics().retries == {"ticks": 1}
