"""Streams: the real sandbox's SSE endpoints, idle timeout on virtual time, end/error events,
and the reconnecting timeline consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.testing

from supervisor.client import (
    AlgoWorkerConfig,
    AsyncKiteAlgoWorkerClient,
    StreamDisconnectedError,
    StreamError,
    StreamIdleTimeout,
)
from supervisor.client._backoff import Backoff
from supervisor.sandbox import SandboxHandle


async def test_ticks_stream_snapshot_then_ticks(
    client: AsyncKiteAlgoWorkerClient, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with client.stream_ticks(["NSE:INFY"], mode="quote") as events:
            first = await events.__anext__()
            assert "quotes" in first
            second = await events.__anext__()
            assert second["ticks"][0]["last_price"] > 0


async def test_candles_and_pnl_streams(
    client: AsyncKiteAlgoWorkerClient, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with client.stream_candles("NSE:INFY", interval="5minute") as events:
            snapshot = await events.__anext__()
            update = await events.__anext__()
        assert "candles" in snapshot and "candle" in update
        for event in (snapshot, update):  # the seed's loop body reads both kinds alike
            candle = event.get("current") or event
            assert candle["close"] > 0 and candle["is_complete"] is False
        await client.create_run(
            strategy_run_id="run_pnl_s_001",
            template_id="t",
            account_scope="kite:paper-a",
            execution_mode="paper",
        )
        async with client.stream_run_pnl("run_pnl_s_001", interval_seconds=1.0) as events:
            update = await events.__anext__()
            assert "net_pnl" in update["totals"]


async def test_idle_timeout_on_quiet_timeline(
    sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
    async with AsyncKiteAlgoWorkerClient(config, stream_idle_timeout=5.0) as client:
        await client.create_run(
            strategy_run_id="run_idle_0001",
            template_id="t",
            account_scope="kite:paper-a",
            execution_mode="dry_run",
        )
        with trio.fail_after(60):
            start = trio.current_time()
            with pytest.raises(StreamIdleTimeout):
                async with client.stream_timeline("run_idle_0001") as events:
                    async for _ in events:
                        pass
            assert trio.current_time() - start == pytest.approx(5.0, abs=0.5)


async def test_default_idle_timeout_outlasts_keepalives(
    client: AsyncKiteAlgoWorkerClient, autojump_clock: trio.testing.MockClock
) -> None:
    await client.create_run(
        strategy_run_id="run_keep_0001",
        template_id="t",
        account_scope="kite:paper-a",
        execution_mode="dry_run",
    )
    with trio.move_on_after(100) as scope:  # 100 s of silence but keep-alives every 15 s
        async with client.stream_timeline("run_keep_0001") as events:
            async for _ in events:
                pass
    assert scope.cancelled_caught


def _sse_client(body: bytes) -> AsyncKiteAlgoWorkerClient:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 7):  # awkward split points on purpose
            yield body[i : i + 7]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks(), headers={"content-type": "text/event-stream"})

    config = AlgoWorkerConfig(base_url="http://127.0.0.1:9", token="kwa_" + "m" * 43)
    return AsyncKiteAlgoWorkerClient(config, transport=httpx.MockTransport(handler))


async def test_end_event_stops_and_error_event_raises() -> None:
    with trio.fail_after(10):
        async with (
            _sse_client(b': hi\n\ndata: {"a": 1}\n\nevent: end\ndata: {"detail": "gone"}\n\n') as client,
            client.stream_run_pnl("run_x_000001") as events,
        ):
            got = [e async for e in events]
        assert got == [{"a": 1}]
        async with _sse_client(b'event: error\ndata: {"detail": "boom"}\n\n') as client:
            with pytest.raises(StreamError, match="boom"):
                async with client.stream_ticks(["NSE:INFY"]) as events:
                    await events.__anext__()
        echoed = b'event: error\ndata: {"detail": "bad kwa_' + b"m" * 43 + b'"}\n\n'
        async with _sse_client(echoed) as client:
            with pytest.raises(StreamError) as masked:
                async with client.stream_ticks(["NSE:INFY"]) as events:
                    await events.__anext__()
        assert "kwa_" + "m" * 43 not in str(masked.value) and str(masked.value).endswith("bad ***")
        async with _sse_client(b'data: {"a": 1}\n\n') as client:
            with pytest.raises(StreamDisconnectedError):
                async with client.stream_ticks(["NSE:INFY"]) as events:
                    async for _ in events:
                        pass


async def test_follow_timeline_resumes_from_last_cursor(
    client: AsyncKiteAlgoWorkerClient, sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    run_id = "run_follow_001"
    await client.create_run(
        strategy_run_id=run_id, template_id="t", account_scope="kite:paper-a", execution_mode="paper"
    )
    for i in range(3):
        await client.log_decision_event(run_id, decision_type="note", action="observe", summary=f"n{i}")
    seen: list[int] = []
    with trio.fail_after(120):
        agen = client.follow_timeline(run_id, backoff=Backoff(initial=1.0, maximum=2.0, jitter=0.0))
        async for event in agen:
            seen.append(event["cursor"])
            if len(seen) == 3:
                break
    assert seen == sorted(seen) and len(set(seen)) == 3
