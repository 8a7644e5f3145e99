"""``client.ws``: the WebSocket streams (contract §5.6) against the real sandbox in virtual time.

Same payloads as the SSE calls of the same names; refusals raise typed errors on entry; a
reconnecting stream resumes at the server's fresh snapshot after a drop or a restart.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from functools import partial

import pytest
import trio
import wsproto
import wsproto.events
from trio.testing import MockClock

from supervisor.client import (
    AlgoWorkerConfig,
    APIError,
    AsyncKiteAlgoWorkerClient,
    AuthError,
    Backoff,
    BrokerValidationError,
    KiteAlgoWorkerClient,
    NotFoundError,
    PermissionDeniedError,
    StreamDisconnectedError,
    StreamError,
    StreamIdleTimeout,
)
from supervisor.sandbox import SandboxHandle, serve_sandbox
from tests.sandbox.threaded import sandbox_thread


def _client(handle: SandboxHandle, token: str | None = None, idle: float = 30.0) -> AsyncKiteAlgoWorkerClient:
    config = AlgoWorkerConfig(base_url=handle.base_url, token=token or handle.token)
    return AsyncKiteAlgoWorkerClient(config, environ={}, stream_idle_timeout=idle)


def _steady(initial: float = 0.5) -> Backoff:
    return Backoff(initial=initial, maximum=4.0, jitter=0.0, rng=random.Random(0))


async def test_ticks_candles_and_pnl(
    client: AsyncKiteAlgoWorkerClient, sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        infy = sandbox.market.token("INFY")
        assert infy is not None
        async with client.ws.stream_ticks(["NSE:TCS", infy], mode="ltp") as ticks:
            snapshot = await ticks.__anext__()
            batch = await ticks.__anext__()
            assert ticks.statistics().messages == 2 and ticks.statistics().connected
        assert [q.tradingsymbol for q in snapshot.quotes] == ["TCS", "INFY"]  # as the SSE stream
        assert {t.tradingsymbol for t in batch.ticks} == {"TCS", "INFY"}

        async with client.ws.stream_candles("NSE:INFY", interval="minute") as candles:
            first, update = await candles.__anext__(), await candles.__anext__()
        assert "candles" in first and update["interval"] == "minute"
        for event in (first, update):  # as on SSE, both read alike through ``current``
            assert event["current"]["close"] > 0 and event["current"]["is_complete"] is False

        await _paper_run(client, "run_ws_c_pnl")
        async with client.ws.stream_run_pnl("run_ws_c_pnl", interval_seconds=1.0) as pnl:
            doc = await pnl.__anext__()
        assert doc.totals == (await client.get_run_pnl("run_ws_c_pnl")).totals
    assert sandbox.token not in repr(client.ws) and sandbox.token not in repr(pnl)


async def _paper_run(client: AsyncKiteAlgoWorkerClient, run_id: str) -> None:
    await client.create_run(
        strategy_run_id=run_id, template_id="t", account_scope="kite:paper-a", execution_mode="paper"
    )


async def test_refusals_raise_typed_errors_on_entry(
    client: AsyncKiteAlgoWorkerClient, sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        await _paper_run(client, "run_ws_c_ref")
        bad = "kwa_" + "b" * 43
        runs_only = sandbox.mint_token(actions=["runs:read"])
        market_only = sandbox.mint_token(actions=["market:stream"])
        refusals: list[tuple[str | None, str, type[APIError], int]] = [
            (bad, "ticks", AuthError, 4401),
            (runs_only, "ticks", PermissionDeniedError, 4403),
            (market_only, "pnl", PermissionDeniedError, 4403),
            (None, "unknown run", NotFoundError, 4404),
            (None, "interval", BrokerValidationError, 4400),
        ]
        for token, what, error, code in refusals:
            async with _client(sandbox, token) as who:
                if what == "ticks":
                    opened = who.ws.stream_ticks(["NSE:INFY"])
                elif what == "pnl":
                    opened = who.ws.stream_run_pnl("run_ws_c_ref")
                elif what == "unknown run":
                    opened = who.ws.stream_run_pnl("run_ws_c_nope")
                else:
                    opened = who.ws.stream_run_pnl("run_ws_c_ref", interval_seconds=9.0)
                with pytest.raises(error) as refused:
                    async with opened:
                        raise AssertionError("entered a refused socket")
            assert refused.value.status_code == code - 4000
            assert refused.value.response_body["close_code"] == code
            assert bad not in str(refused.value) and sandbox.token not in repr(refused.value)
        # an in-band error event (no valid instrument) is a StreamError, never retried
        with pytest.raises(StreamError, match="At least one valid symbol"):
            async with client.ws.stream_ticks(["NSE:NOPE"], reconnect=_steady()):
                pass


async def test_a_dropped_socket_reconnects_and_resumes_at_a_snapshot(
    client: AsyncKiteAlgoWorkerClient, sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        sandbox.faults.add(path="/worker/ws/market/ticks", stream="drop", after_chunks=2, times=1)
        async with client.ws.stream_ticks(["NSE:INFY"], reconnect=_steady(0.5)) as ticks:
            kinds = []
            times = []
            async for event in ticks:
                kinds.append("snapshot" if "quotes" in event else "ticks")
                times.append(trio.current_time())
                if len(kinds) == 4:
                    break
            stats = ticks.statistics()
        assert kinds == ["snapshot", "ticks", "snapshot", "ticks"]
        assert stats.reconnects == 1 and stats.last_error == "StreamDisconnectedError"
        # the drop comes when the third message is due (the next market step, 1 s), then the
        # backoff's first delay (0.5 s), then the new socket's snapshot at once
        assert times[2] - times[1] == pytest.approx(1.0 + 0.5)


async def test_without_reconnect_a_drop_is_raised(
    client: AsyncKiteAlgoWorkerClient, sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        sandbox.faults.add(path="/worker/ws/market/candles", stream="drop", after_chunks=1, times=1)
        async with client.ws.stream_candles("NSE:INFY") as candles:
            assert "candles" in await candles.__anext__()
            with pytest.raises(StreamDisconnectedError) as dropped:
                await candles.__anext__()
        assert dropped.value.response_body["close_code"] == 1011


async def test_restart_downtime_is_retried_until_the_sandbox_is_back(
    client: AsyncKiteAlgoWorkerClient, sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(120):
        await _paper_run(client, "run_ws_c_rst")
        async with client.ws.stream_run_pnl("run_ws_c_rst", reconnect=_steady(1.0)) as pnl:
            await pnl.__anext__()
            await sandbox.faults.restart(downtime_s=5)  # closes with 1012, then 1013 while down
            down = trio.current_time()
            resumed = await pnl.__anext__()
            assert trio.current_time() - down >= 5
            stats = pnl.statistics()
        assert "totals" in resumed and stats.reconnects == 1

        # bounded: max_attempts consecutive failures raise the last one
        async with client.ws.stream_run_pnl("run_ws_c_rst", reconnect=_steady(1.0), max_attempts=3) as pnl:
            await pnl.__anext__()
            await sandbox.faults.restart(downtime_s=600)
            start = trio.current_time()
            with pytest.raises(StreamDisconnectedError) as gave_up:
                await pnl.__anext__()
        assert gave_up.value.response_body["close_code"] == 1013
        assert trio.current_time() - start == pytest.approx(1.0 + 2.0)  # two delays between three tries


async def _mute_server(*, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Accepts one WebSocket, sends one message, then never reads again: pings go unanswered."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    stream = await listeners[0].accept()
    ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    while True:
        ws.receive_data(await stream.receive_some(65536))
        if any(isinstance(e, wsproto.events.Request) for e in ws.events()):
            break
    await stream.send_all(ws.send(wsproto.events.AcceptConnection()))
    await stream.send_all(ws.send(wsproto.events.TextMessage(data='{"event": "snapshot", "data": {}}')))
    await trio.sleep_forever()


async def test_a_mute_peer_fails_the_ping_with_idle_timeout(autojump_clock: MockClock) -> None:
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(_mute_server)
            config = AlgoWorkerConfig(base_url=f"http://127.0.0.1:{port}", token="kwa_" + "m" * 43)
            async with AsyncKiteAlgoWorkerClient(config, environ={}, stream_idle_timeout=20) as client:
                async with client.ws.stream_ticks(["NSE:INFY"]) as ticks:
                    assert await ticks.__anext__() == {}
                    start = trio.current_time()
                    with pytest.raises(StreamIdleTimeout, match="no pong"):
                        await ticks.__anext__()
                # idle, the ping's wait, then at most DISCONNECT_TIMEOUT for a close frame never sent
                assert trio.current_time() - start == pytest.approx(20 + 10 + 1)
            nursery.cancel_scope.cancel()


async def test_a_quiet_market_keeps_the_socket_alive_by_ping(autojump_clock: MockClock) -> None:
    # 16:00 IST on a Wednesday: closed, so the tick socket sends nothing after its snapshot
    epoch = datetime.fromisoformat("2026-06-10T16:00:00+05:30")
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            handle = await nursery.start(
                partial(serve_sandbox, token="kwa_" + "q" * 43, market_hours="nse", epoch=epoch)
            )
            async with _client(handle, idle=20) as client, client.ws.stream_ticks(["NSE:INFY"]) as ticks:
                assert "quotes" in await ticks.__anext__()
                with trio.move_on_after(200) as quiet:
                    await ticks.__anext__()  # pinged every 20 s, answered: no error
                assert quiet.cancelled_caught and ticks.statistics().connected
            nursery.cancel_scope.cancel()


@pytest.fixture(scope="module")
def threaded_sandbox() -> Iterator[SandboxHandle]:
    with sandbox_thread(token="kwa_" + "z" * 43, tick_interval=0.1) as handle:
        yield handle


def test_the_sync_client_iterates_a_socket(threaded_sandbox: SandboxHandle) -> None:
    config = AlgoWorkerConfig(base_url=threaded_sandbox.base_url, token=threaded_sandbox.token)
    with KiteAlgoWorkerClient(config) as client, client.ws.stream_ticks(["NSE:INFY"]) as ticks:
        first, second = next(ticks), next(ticks)
    assert "quotes" in first and second["ticks"][0]["tradingsymbol"] == "INFY"
