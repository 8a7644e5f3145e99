"""Error mapping against the sandbox, the endpoint catalogue vs docs/wire-api.md (each call against
the sandbox: test_surface_coverage), reconnects, recovery helpers and the public surface."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

import supervisor.client as client_pkg
from supervisor.client import (
    AlgoWorkerConfig,
    AsyncKiteAlgoWorkerClient,
    KiteAlgoWorkerError,
    LiveTradingRefusedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    equity_market_order,
    preview_then_place_order,
    wait_for_fresh_candle,
    wait_for_history,
    wait_for_quotes,
    wait_for_terminal_order_state,
    warmup_history,
)
from supervisor.client._backoff import Backoff
from supervisor.client._config import require_live_enabled
from supervisor.client._endpoints import ENDPOINTS
from supervisor.client._managed import AsyncManagedRun
from supervisor.sandbox import SandboxHandle

from .conftest import RecordingTransport

# the project's own record of the wire API: its endpoint table is data for this test
WIRE_API = Path(__file__).resolve().parents[2] / "docs" / "wire-api.md"


async def test_status_mapping(
    client: AsyncKiteAlgoWorkerClient,
    sandbox: SandboxHandle,
    recorder: RecordingTransport,
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        with pytest.raises(NotFoundError) as nf:
            await client.get_run_pnl("run_nope_0001")
        assert nf.value.status_code == 404 and "{run_id}" not in str(nf.value)
        sandbox.faults.add(path="/worker/health", status=503, times=1)
        with pytest.raises(ServerError):
            await client.health()
        sandbox.faults.add(path="/worker/health", status=429, times=1)
        with pytest.raises(RateLimitedError):
            await client.health()
        assert (await client.health())["status"]
    # the client never retries on its own: one request per call, 503 and 429 included
    assert recorder.seen.count(("GET", "/api/algo-workers/worker/health")) == 3
    limited = sandbox.mint_token(actions=["runs:read"])
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=limited)
    async with AsyncKiteAlgoWorkerClient(config) as narrow:
        with trio.fail_after(30), pytest.raises(PermissionDeniedError) as denied:
            await narrow.create_run(template_id="t", account_scope="kite:paper-a", execution_mode="paper")
    assert limited not in str(denied.value) and limited not in repr(denied.value)


async def test_transport_error_when_nothing_listens(autojump_clock: trio.testing.MockClock) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    for listener in listeners:
        await listener.aclose()  # the port is now closed: connections are refused
    token = "kwa_" + "q" * 43
    async with AsyncKiteAlgoWorkerClient(AlgoWorkerConfig(f"http://127.0.0.1:{port}", token)) as client:
        with trio.fail_after(30), pytest.raises(TransportError) as err:
            await client.health()
    assert token not in str(err.value) and err.value.__cause__ is not None


def test_live_gate() -> None:
    require_live_enabled("paper", {})
    require_live_enabled("live", {"KITE_ALGO_ENABLE_LIVE": "1"})
    with pytest.raises(LiveTradingRefusedError):
        require_live_enabled("live", {})
    config = AlgoWorkerConfig.from_env(
        {"KITE_ALGO_WORKER_TOKEN": "kwa_secret_abcdef", "KITE_ALGO_TIMEOUT": "3"}
    )
    assert config.timeout == 3.0 and config.base_url == "http://localhost:18777"
    assert "kwa_secret_abcdef" not in repr(config)


async def test_place_on_known_live_run_refused_before_network() -> None:
    """The transport stands in for a live backend (the sandbox has no live broker session)."""
    seen: list[tuple[str, str]] = []

    def backend(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        doc = {"strategy_run_id": "run_live_gate1", "execution_mode": "live", "status": "open"}
        return httpx.Response(200, json=doc)

    config = AlgoWorkerConfig(base_url="http://127.0.0.1:9", token="kwa_" + "l" * 43)
    async with AsyncKiteAlgoWorkerClient(
        config, transport=httpx.MockTransport(backend), environ={}
    ) as client:
        with trio.fail_after(30):
            await client.get_run("run_live_gate1")
            with pytest.raises(LiveTradingRefusedError):
                await client.place_order(
                    "run_live_gate1",
                    equity_market_order("INFY", "BUY", 1),
                    idempotency_key="run_live_gate1:e:1",
                )
            with pytest.raises(LiveTradingRefusedError):
                await client.place_basket(
                    "run_live_gate1",
                    [equity_market_order("INFY", "BUY", 1)],
                    idempotency_key="run_live_gate1:b:1",
                )
            with pytest.raises(LiveTradingRefusedError):
                await client.exit_run("run_live_gate1")
            assert seen == [("GET", "/api/algo-workers/worker/runs/run_live_gate1")]
            await client.exit_run("run_live_gate1", dry_run=True)  # a dry-run exit preview is allowed
            assert seen[-1] == ("POST", "/api/algo-workers/worker/runs/run_live_gate1/exit")
    # a client that never saw the run (it was created by an earlier process) looks it up first
    seen.clear()
    async with AsyncKiteAlgoWorkerClient(
        config, transport=httpx.MockTransport(backend), environ={}
    ) as client:
        with trio.fail_after(30):
            for attempt in range(2):
                with pytest.raises(LiveTradingRefusedError):
                    await client.place_order(
                        "run_live_gate1",
                        equity_market_order("INFY", "BUY", 1),
                        idempotency_key=f"run_live_gate1:e:{attempt}",
                    )
            with pytest.raises(LiveTradingRefusedError):
                await client.cancel_order("run_live_gate1", "250508000001")
    assert seen == [("GET", "/api/algo-workers/worker/runs/run_live_gate1")]  # looked up once
    seen.clear()
    async with AsyncKiteAlgoWorkerClient(
        config, transport=httpx.MockTransport(backend), environ={"KITE_ALGO_ENABLE_LIVE": "1"}
    ) as client:
        await client.exit_run("run_live_gate1")
        assert seen == [("POST", "/api/algo-workers/worker/runs/run_live_gate1/exit")]  # no lookup


async def test_follow_timeline_reconnects_after_drop(
    client: AsyncKiteAlgoWorkerClient, sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    run_id = "run_recon_001"
    await client.create_run(
        strategy_run_id=run_id, template_id="t", account_scope="kite:paper-a", execution_mode="paper"
    )
    for i in range(2):
        await client.log_decision_event(run_id, decision_type="note", action="observe", summary=f"a{i}")
    rule = sandbox.faults.add(
        path=f"/worker/runs/{run_id}/timeline/stream", stream="drop", after_chunks=2, times=1
    )
    seen: list[int] = []
    with trio.fail_after(120):
        async for event in client.follow_timeline(
            run_id, backoff=Backoff(initial=1.0, maximum=2.0, jitter=0.0)
        ):
            seen.append(event["cursor"])
            if len(seen) == 2:
                await client.log_decision_event(
                    run_id, decision_type="note", action="observe", summary="late"
                )
            if len(seen) == 3:
                break
    assert rule.fired >= 1
    assert seen == sorted(seen) and len(set(seen)) == 3


async def test_recovery_helpers(
    client: AsyncKiteAlgoWorkerClient, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(120):
        history = await wait_for_history(client, "NSE:INFY", timeframe="day", attempts=3)
        assert history["candles"]
        warm = await warmup_history(client, "NSE:INFY", timeframe="5minute", min_candles=20, attempts=3)
        assert len(warm["candles"]) >= 20
        quotes = await wait_for_quotes(client, ["NSE:INFY"], attempts=5)
        assert quotes["quotes"]["NSE:INFY"]["last_price"] > 0
        candle = await wait_for_fresh_candle(client, "NSE:INFY", interval="minute", sleep_seconds=5.0)
        later = await wait_for_fresh_candle(
            client, "NSE:INFY", interval="minute", after=candle["ts"], sleep_seconds=5.0
        )
        assert later["ts"] > candle["ts"]  # polled (virtual time) until the next bar opened
        run_id = "run_recov_001"
        await client.create_run(
            strategy_run_id=run_id, template_id="t", account_scope="kite:paper-a", execution_mode="paper"
        )
        preview, placed = await preview_then_place_order(
            client, run_id, equity_market_order("INFY", "BUY", 1), idempotency_key=f"{run_id}:e:1"
        )
        assert preview["preview"]["cost_contract"] and placed["status"] == "accepted"
        order_id = placed["result"]["order"]["order_id"]
        order = await wait_for_terminal_order_state(client, run_id, order_id, attempts=3)
        assert order["order_id"] == order_id and order["status"] == "COMPLETE"
        with pytest.raises(KiteAlgoWorkerError, match="wait_for_quotes"):
            await wait_for_quotes(client, ["NSE:NOPE"], attempts=2, sleep_seconds=1.0)


def _documented_endpoints(since: str) -> set[tuple[str, str]]:
    """(method, path) of every row of docs/wire-api.md's endpoint table first served to ``since``."""
    rows: set[tuple[str, str]] = set()
    table = WIRE_API.read_text().split("## Endpoints", 1)[1]
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 9 or cells[1] not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            continue
        method, path, version = cells[1], cells[2].strip("`"), cells[6]
        if version == since:
            rows.add((method, re.sub(r"\{[^}]+\}", "{}", path.split("?", 1)[0])))
    return rows


def test_every_074_endpoint_has_a_definition() -> None:
    ours = {(e.method, re.sub(r"\{[^}]+\}", "{}", e.path)) for e in ENDPOINTS.values()}
    documented = _documented_endpoints("0.7.4")
    assert len(documented) >= 58  # 40 worker routes + 18 of the options namespace
    assert documented - ours == set()


def test_every_013_endpoint_has_a_definition() -> None:
    """The rows newer servers and SDK 0.13 added: each has a definition, and each row's
    "Client call" cell names a public call of the client (or of its managed run)."""
    ours = {(e.method, re.sub(r"\{[^}]+\}", "{}", e.path)) for e in ENDPOINTS.values()}
    documented = _documented_endpoints("0.13")
    assert len(documented) >= 23  # 12 run and execution routes + 11 read surfaces
    assert documented - ours == set()
    table = WIRE_API.read_text().split("## Endpoints", 1)[1]
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) >= 9 and cells[6] == "0.13":
            calls = re.findall(r"`([\w.]+)`", cells[5])
            assert calls, f"no client call documented for {cells[1]} {cells[2]}"
            for call in calls:
                owner, _, name = call.rpartition(".")
                cls = AsyncManagedRun if owner == "AsyncManagedRun" else AsyncKiteAlgoWorkerClient
                assert callable(getattr(cls, name, None)), call


def test_public_surface_is_curated() -> None:
    assert client_pkg.__all__ == sorted(client_pkg.__all__)
    for name in client_pkg.__all__:
        assert getattr(client_pkg, name) is not None
    for required in ("AlgoWorkerConfig", "AsyncKiteAlgoWorkerClient", "KiteAlgoWorkerClient", "RunConfig",
                     "OrderBuilder", "validate_order", "BackendProtection", "candles_to_df", "ohlcv_arrays",
                     "resolve_spread", "wait_for_history", "SessionConflictError"):  # fmt: skip
        assert required in client_pkg.__all__
    public = {n for n in dir(client_pkg) if not n.startswith("_")}
    submodules = {"dataframe", "indicators"}
    assert public - submodules - set(client_pkg.__all__) == set()
