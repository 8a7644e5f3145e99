"""The official SDK (kite-algo-worker 0.7.4) runs the seed's documented flows.

Each test is the seed's example with only the base URL and token swapped for the sandbox's.
Market data, streams and GTT are served by the sandbox's synthetic market. Where the seed's
example fails against the reference server (contract §11: the strict ``SafetyCheckResult``, the
README decision body, ``funds["net"]``), it fails here the same way, and the test says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from kite_algo_worker import (
    AlgoWorkerConfig,
    BackendProtection,
    BasketProtection,
    KiteAlgoWorkerClient,
    OperationalProtection,
    ProtectedPosition,
    RunConfig,
    equity_market_order,
)
from kite_algo_worker.exceptions import BrokerValidationError, KiteAlgoWorkerError

from supervisor.sandbox import SandboxHandle
from supervisor.sandbox._calendar import lot_size

from .threaded import sandbox_thread


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with sandbox_thread(token="kwa_" + "s" * 43) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> KiteAlgoWorkerClient:
    return KiteAlgoWorkerClient(AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token))


def test_health_and_session_management(client: KiteAlgoWorkerClient) -> None:
    health = client.health()
    assert health["status"] == "ok"  # the seed shows "healthy"; the reference server says "ok"
    assert health["account_scope"] == "kite:paper-a"  # the sandbox's token has the seed's scope
    client.create_run(
        strategy_run_id="run_basic_equity_001",
        template_id="basic-equity",
        account_scope="kite:paper-a",
        execution_mode="dry_run",
        metadata={"strategy_family": "indicator_strategy", "strategy_name": "Basic Equity"},
    )
    # Session management (raw client), as documented
    claim = client.claim_session("run_basic_equity_001")
    nonce = claim["worker_session_nonce"]
    client.run_heartbeat("run_basic_equity_001", session_nonce=nonce)
    with pytest.raises(KiteAlgoWorkerError) as conflict:
        client.claim_session("run_basic_equity_001")
    assert conflict.value.status_code == 409
    client.release_session("run_basic_equity_001", session_nonce=nonce)
    run = client.get_run("run_basic_equity_001")
    assert run["status"] == "open" and run["health_status"] == "healthy"


@pytest.mark.parametrize("mode", ["dry_run", "paper"])
def test_raw_client_flow(client: KiteAlgoWorkerClient, mode: str) -> None:
    client.health()
    run = client.create_run(
        strategy_run_id="run_basic_equity_001",
        template_id="basic-equity",
        account_scope="kite:paper-a",
        execution_mode=mode,
        metadata={"strategy_family": "indicator_strategy", "strategy_name": "Basic Equity"},
    )
    order = equity_market_order("INFY", "BUY", 1)
    result = client.place_order(
        run["strategy_run_id"],
        order,
        idempotency_key="run_basic_equity_001:entry:001",
    )
    assert result["status"] == "accepted"
    replay = client.place_order(
        run["strategy_run_id"], order, idempotency_key="run_basic_equity_001:entry:001"
    )
    assert replay == {"status": "deduped", "result": result["result"]}
    pnl = client.get_run_pnl("run_basic_equity_001")
    assert isinstance(pnl["totals"]["net_pnl"], float)
    snapshot = client.get_run_pnl_snapshot("run_basic_equity_001")  # strict model: exact keys
    assert snapshot.strategy_run_id == "run_basic_equity_001"
    if mode == "paper":
        assert result["result"]["status"] == "filled"
        assert snapshot.position_count == 1
    exit_result = client.exit_run(
        "run_basic_equity_001", reason="strategy complete", idempotency_key="run_basic_equity_001:exit:001"
    )
    assert exit_result["status"] == "closed"
    assert client.get_run("run_basic_equity_001")["status"] == "closed"


@pytest.mark.parametrize("mode", ["dry_run", "paper"])
def test_managed_flow(client: KiteAlgoWorkerClient, sandbox: SandboxHandle, mode: str) -> None:
    config = RunConfig(
        strategy_run_id="run_managed_001",
        template_id="managed-demo",
        account_scope="kite:paper-a",
        execution_mode=mode,
    )
    with client.run(config) as run:
        # 0.7.4's SafetyCheckResult is strict and the server sends execution_mode (§11 #1)
        with pytest.raises(TypeError, match="execution_mode"):
            run.safety_check()
        placed = run.place_order(  # the safety token is optional (§4.4)
            equity_market_order("INFY", "BUY", 1),
            idempotency_key=f"{run.run_id}:entry:001",
        )
        run.heartbeat(metrics={"last_signal": "entry-001"})
        assert placed["status"] == "accepted"
        assert sandbox.state.runs["run_managed_001"].worker_session_nonce == run.session_nonce
    # released on exit; the run stays open
    doc = client.get_run("run_managed_001")
    assert doc["worker_session_nonce"] is None and doc["status"] == "open"
    # recovering the same config returns the existing run (client-side get-then-create)
    with client.run(config, claim_session=False, heartbeat_on_enter=False) as again:
        assert again.run_id == "run_managed_001"


def test_safety_flow_and_protection(client: KiteAlgoWorkerClient) -> None:
    client.create_run(
        strategy_run_id="run_managed_001",
        template_id="managed-demo",
        account_scope="kite:paper-a",
        execution_mode="dry_run",
    )
    claim = client.claim_session("run_managed_001")
    with pytest.raises(TypeError, match="execution_mode"):  # strict model, §11 #1
        client.safety_check("run_managed_001")
    client.place_order(
        "run_managed_001",
        equity_market_order("INFY", "BUY", 1),
        idempotency_key="run_managed_001:entry:001",
        session_nonce=claim["worker_session_nonce"],
    )
    protection = BackendProtection(
        positions=[
            ProtectedPosition(
                symbol="NSE:INFY",
                product="CNC",
                side="BUY",
                quantity=1,
                entry_price=1500.0,
                stoploss_pct=2.0,
            )
        ],
        basket=BasketProtection(stoploss_pct=4.0),
        operations=OperationalProtection(exit_on_worker_stale=True, worker_stale_sec=300),
    )
    nonce = claim["worker_session_nonce"]
    doc = client.update_backend_protection(
        "run_managed_001", protection, reason="rebalance", session_nonce=nonce
    )
    assert doc["runtime_state"]["backend_protection"]["operations"]["worker_stale_sec"] == 300
    state = client.get_run_protection_state("run_managed_001")
    assert state["status"] == "active"
    doc = client.patch_risk("run_managed_001", {"stop_loss_pct": 1.0}, reason="volatility adjustment",
                            session_nonce=nonce)  # fmt: skip
    assert doc["runtime_state"]["risk"] == {"stop_loss_pct": 1.0}


def test_timeline_flow(client: KiteAlgoWorkerClient) -> None:
    client.create_run(
        strategy_run_id="run_managed_001",
        template_id="managed-demo",
        account_scope="kite:paper-a",
        execution_mode="dry_run",
    )
    # the seed's README body lacks decision_type and action: 422, as on the server (§11 #3)
    with pytest.raises(BrokerValidationError) as invalid:
        client.log_decision_event(
            "run_managed_001",
            event_type="signal.generated",
            summary="EMA crossover detected on INFY 5min",
            details={"symbol": "INFY", "fast_ema": 1450.1, "slow_ema": 1448.3},
        )
    assert invalid.value.status_code == 422
    client.log_decision_event(
        "run_managed_001",
        decision_type="signal",
        action="observe",
        summary="EMA crossover detected on INFY 5min",
        metadata={"symbol": "INFY", "fast_ema": 1450.1, "slow_ema": 1448.3},
    )
    timeline = client.list_timeline_snapshot("run_managed_001", limit=20)  # strict models
    assert [(e.event_type, e.summary) for e in timeline.events] == [
        ("decision.signal", "EMA crossover detected on INFY 5min")
    ]
    for event in client.stream_timeline("run_managed_001"):
        assert event["event_type"] == "decision.signal"
        assert event.get("summary") == "EMA crossover detected on INFY 5min"
        break


def test_dry_run_exit_and_pnl_stream(client: KiteAlgoWorkerClient) -> None:
    client.create_run(
        strategy_run_id="run_x", template_id="t", account_scope="kite:paper-a", execution_mode="dry_run"
    )
    for update in client.stream_run_pnl("run_x", interval_seconds=1.0):
        assert update["totals"]["net_pnl"] == 0.0
        break
    result = client.exit_run("run_x", reason="target reached", idempotency_key="run_x:exit:target")
    assert result["mode"] == "dry_run" and result["status"] == "closed"


def test_paper_basket_funds_and_exit_preview(client: KiteAlgoWorkerClient) -> None:
    client.create_run(
        strategy_run_id="run_basic_equity_001",
        template_id="basic-equity",
        account_scope="kite:paper-a",
        execution_mode="paper",
    )
    basket = client.place_basket(
        "run_basic_equity_001",
        [
            equity_market_order("INFY", "BUY", 1),
            equity_market_order("RELIANCE", "BUY", 1),
        ],
        idempotency_key="run_basic_equity_001:basket:001",
        all_or_none=True,
    )
    assert basket["status"] == "accepted"
    assert basket["result"]["status"] == "success"
    preview = client.place_basket(
        "run_basic_equity_001",
        [equity_market_order("TCS", "BUY", 1)],
        idempotency_key="run_basic_equity_001:basket:002",
        dry_run=True,
    )
    assert preview["result"]["status"] == "dry_run"
    funds = client.get_funds(mode="paper")  # the token's account
    assert funds["account_scope"] == "kite:paper-a" and "net" not in funds  # §11 #7
    assert isinstance(funds["segments"]["equity"]["net"], float)
    run_funds = client.get_run_funds("run_basic_equity_001")
    assert run_funds.get("strategy", {}).get("allocation", {}).get("remaining") is None
    orders = client.list_orders("run_basic_equity_001")
    assert {o["tradingsymbol"] for o in orders["orders"]} == {"INFY", "RELIANCE"}
    plan = client.exit_run("run_basic_equity_001", reason="preview", dry_run=True)
    assert plan["status"] == "dry_run" and len(plan["exit"]["orders"]) == 2
    assert client.get_run("run_basic_equity_001")["status"] == "open"
    assert client.exit_run("run_basic_equity_001", reason="done")["status"] == "closed"


def test_market_data_and_streams(client: KiteAlgoWorkerClient) -> None:
    instrument = client.resolve_ticker("NSE:INFY")
    assert instrument["instrument_token"] == 408065 and instrument["tradingsymbol"] == "INFY"
    results = client.search_tickers("INFY", exchange="NSE", limit=20)
    assert any(r["tradingsymbol"] == "INFY" for r in results["results"])
    quotes = client.get_quotes(["NSE:INFY", "NSE:RELIANCE"], mode="quote")
    # the seed indexes quotes["quotes"]["NSE:INFY"]; the server sends a list (§11 #6)
    with pytest.raises(TypeError):
        print(quotes["quotes"]["NSE:INFY"]["last_price"])
    by_symbol = {q["symbol"]: q for q in quotes["quotes"]}
    assert by_symbol["NSE:RELIANCE"]["last_price"] > 0 and by_symbol["NSE:INFY"]["last_price"] > 0
    market = client.get_market_snapshot(
        symbols=["NSE:INFY"], candles=[{"symbol": "NSE:INFY", "interval": "5minute", "lookback": 3}]
    )
    assert market["quotes"][0]["last_price"] > 0 and len(market["candles"][0]["candles"]) == 3
    candles = client.get_candles("NSE:INFY", interval="5minute", lookback=20)
    assert len(candles["candles"]) == 20
    for c in candles["candles"]:
        assert c["low"] <= min(c["open"], c["close"]) <= max(c["open"], c["close"]) <= c["high"]
    history = client.get_historical_candles("NSE:INFY", timeframe="day", lookback_days=366, passthrough=True)
    assert history["source"] == "kite_passthrough" and len(history["candles"]) >= 300
    snapshot = client.get_historical_candles_snapshot("NSE:INFY", timeframe="5minute", lookback_days=2)
    assert snapshot.candles and snapshot.candles[-1].is_complete
    ticks_seen = 0
    for event in client.stream_ticks(["NSE:INFY"], mode="quote"):
        for tick in event.get("ticks", []):
            assert tick["last_price"] > 0
            ticks_seen += 1
        if ticks_seen >= 2:
            break
    for event in client.stream_candles("NSE:INFY", interval="5minute"):
        candle = event.get("current") or event
        if candle and "candle" in event:
            assert event["candle"]["is_complete"] is False
            break


def test_gtt_flow(client: KiteAlgoWorkerClient) -> None:
    result = client.place_gtt_snapshot(
        {
            "type": "single",
            "condition": {
                "exchange": "NSE",
                "tradingsymbol": "INFY",
                "trigger_values": [1450.0],
                "last_price": 1448.0,
            },
            "orders": [
                {
                    "exchange": "NSE",
                    "tradingsymbol": "INFY",
                    "transaction_type": "BUY",
                    "quantity": 1,
                    "order_type": "LIMIT",
                    "product": "CNC",
                    "price": 1450.0,
                }
            ],
        }
    )
    trigger = client.get_gtt_snapshot(result.trigger_id)
    print(trigger.id, trigger.status)
    assert trigger.id == result.trigger_id and trigger.status in ("active", "triggered")
    assert [t["id"] for t in client.list_gtts()] == [result.trigger_id]
    client.modify_gtt(result.trigger_id, {"condition": {"trigger_values": [1460.0], "last_price": 1455.0}})
    assert client.get_gtt(result.trigger_id)["condition"]["trigger_values"] == [1460.0]
    client.delete_gtt(result.trigger_id)
    assert client.list_gtts() == []
    with pytest.raises(KiteAlgoWorkerError) as missing:
        client.get_gtt(result.trigger_id)
    assert missing.value.status_code == 404


def test_funds_and_run_health_flows(client: KiteAlgoWorkerClient) -> None:
    funds = client.get_funds(mode="paper")  # the seed's call: the token's scope (§4.10)
    assert funds["account_scope"] == "kite:paper-a"
    with pytest.raises(KeyError):  # the seed's funds["net"] is not a server key (§11 #7)
        print(funds["net"])
    snapshot = client.get_funds_snapshot(mode="paper")  # strict model: exactly its keys
    assert snapshot.segments["equity"].net == 1_000_000.0
    assert snapshot.segments["equity"].available_cash == 1_000_000.0
    client.create_run(
        strategy_run_id="run_basic_equity_001",
        template_id="basic-equity",
        account_scope="kite:paper-a",
        execution_mode="paper",
        metadata={"allocation_cap": 50_000},
    )
    client.place_order("run_basic_equity_001", equity_market_order("INFY", "BUY", 1),
                       idempotency_key="run_basic_equity_001:entry:001")  # fmt: skip
    run_funds = client.get_run_funds("run_basic_equity_001")
    remaining = run_funds.get("strategy", {}).get("allocation", {}).get("remaining")
    assert remaining is not None and 0 < remaining < 50_000


def test_options_workflow(client: KiteAlgoWorkerClient) -> None:
    from kite_algo_worker import (
        SpreadLegSelection,
        SpreadSpec,
        resolve_delta_leg,
        resolve_offset_leg,
        resolve_spread,
    )

    client.options.ensure_session("NIFTY")
    expiries = client.options.list_expiries("NIFTY")
    assert expiries["expiries"] and expiries["spot_ltp"] > 0
    chain = client.options.get_chain("NIFTY", expiry="current_week")
    assert (
        chain["atm_strike"] % 50 == 0 and chain["chain"][0]["ce"]["delta"] > chain["chain"][-1]["ce"]["delta"]
    )
    greeks = client.options.get_greeks("NIFTY", expiry="nearest")
    assert {c["option_type"] for c in greeks["contracts"]} == {"CE", "PE"}
    leg = client.options.resolve_option_leg(
        underlying="NIFTY", product="MIS", expiry="current_week",
        selection={"option_type": "CE", "strike": chain["atm_strike"]},
        transaction_type="BUY", lots=1,
    )  # fmt: skip
    # the lot of the contract's expiry (NSE's table in _calendar; 65 from the January 2026 series)
    assert leg.quantity == leg.lot_size == lot_size("NIFTY", dt.date.fromisoformat(leg.expiry_key))
    leg = resolve_offset_leg(client.options, underlying="NIFTY", product="MIS", expiry="current_week",
                             option_type="CE", offset="ATM", transaction_type="BUY")  # fmt: skip
    delta_leg = resolve_delta_leg(client.options, underlying="NIFTY", product="MIS", expiry="current_week",
                                  option_type="CE", delta_target=0.30, transaction_type="SELL")  # fmt: skip
    assert delta_leg.strike > leg.strike
    atm = SpreadLegSelection(selection={"option_type": "CE", "moneyness": "ATM"}, transaction_type="SELL")
    otm = SpreadLegSelection(
        selection={"option_type": "CE", "moneyness": "+1_strike"}, transaction_type="BUY"
    )
    spec = SpreadSpec(spread_type="vertical_call_spread", expiry="current_week", legs=[atm, otm])
    spread = resolve_spread(client.options, underlying="NIFTY", product="MIS", spec=spec)
    assert spread[1].strike == spread[0].strike + 50
    option_run = client.options.create_run(
        strategy_name="Bull Call Spread",
        product="MIS",
        legs=[leg.model_dump(exclude_none=True) for leg in spread],
        protection={"stoploss_pct": 2.0},
    )
    run_id = option_run["strategy_run_id"]
    preview = client.options.preview_entry(run_id)
    assert preview["status"] == "entry_previewed" and len(preview["orders"]) == 2
    entered = client.options.enter(run_id, {"account_scope": "kite:paper-a"})
    assert entered["status"] == "entered", entered
    state = client.options.get_protection_state(run_id)
    assert state["applicable"] is True
    exited = client.options.exit(run_id, {"account_scope": "kite:paper-a"})
    assert exited["status"] == "exited"


def test_previews_order_inspection_and_recovery_helpers(client: KiteAlgoWorkerClient) -> None:
    from kite_algo_worker import (
        amo_market_order,
        ensure_run,
        limit_order,
        preview_then_place_order,
        wait_for_fresh_candle,
        wait_for_history,
        wait_for_quotes,
        wait_for_terminal_order_state,
        warmup_history,
    )

    run = ensure_run(
        client, strategy_run_id="run_basic_equity_001", template_id="basic-equity",
        account_scope="kite:paper-a", execution_mode="paper",
        metadata={"strategy_family": "indicator_strategy", "strategy_name": "Basic Equity"},
    )  # fmt: skip
    run_id = run["strategy_run_id"]
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
             "variety": "regular", "product": "CNC", "order_type": "MARKET", "quantity": 1}  # fmt: skip
    preview = client.preview_order(run_id, order)
    assert preview["preview"]["cost_contract"]["margin_required"] > 0
    basket = client.preview_basket(run_id, [order, {**order, "tradingsymbol": "TCS"}], all_or_none=True)
    assert basket["preview"]
    placed = preview_then_place_order(client, run_id, order, idempotency_key=f"{run_id}:entry:001")
    filled_id = placed["result"]["order"]["order_id"]
    assert wait_for_terminal_order_state(client, run_id, filled_id).status == "COMPLETE"
    resting = client.place_order(
        run_id, limit_order("NSE", "INFY", "BUY", "CNC", 1, price=1.0), idempotency_key=f"{run_id}:entry:002"
    )
    resting_id = resting["result"]["order"]["order_id"]
    # the seed's cancel/modify/inspection example, on the resting order
    client.modify_order(run_id, resting_id, {"quantity": 2})
    client.cancel_order(run_id, resting_id)
    assert wait_for_terminal_order_state(client, run_id, resting_id).status == "CANCELLED"
    orders = client.list_orders(run_id)
    trades = client.list_trades(run_id)
    assert {o["order_id"] for o in orders["orders"]} == {filled_id, resting_id}
    assert [t["order_id"] for t in trades["trades"]] == [filled_id]
    amo = client.place_order(run_id, amo_market_order("NSE", "INFY", "BUY", "CNC", 1), f"{run_id}:amo:001")
    assert amo["result"]["status"] == "accepted"  # queued for the open (always open: the next step)
    history = wait_for_history(client, "NSE:INFY", timeframe="day", attempts=10)
    assert history["candles"]
    warm = warmup_history(client, "NSE:INFY", timeframe="5minute", min_candles=50)
    assert len(warm.candles) >= 50
    assert wait_for_quotes(client, ["NSE:INFY"])["quotes"][0]["last_price"] > 0
    # the live bucket is never complete: one poll returns it as it stands
    candle = wait_for_fresh_candle(client, "NSE:INFY", attempts=1, sleep_seconds=0)
    assert candle is not None and candle.close > 0
