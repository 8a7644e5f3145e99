"""The seed's code examples as written, on our blocking client against a sandbox.

Only the import line changes (``kite_algo_worker`` → ``supervisor.client``) and the base URL
and token come from the sandbox. The sandbox runs in its own thread (real time) because the
blocking client is used from the test's thread, as a script would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from supervisor.client import (
    AlgoWorkerConfig,
    BackendProtection,
    BasketProtection,
    KiteAlgoWorkerClient,
    OperationalProtection,
    OrderBuilder,
    ProtectedPosition,
    RunConfig,
    SpreadLegSelection,
    SpreadSpec,
    amo_limit_order,
    amo_market_order,
    equity_market_order,
    limit_order,
    market_order,
    option_market_order,
    resolve_delta_leg,
    resolve_offset_leg,
    resolve_option_leg,
    resolve_spread,
    sl_m_order,
    sl_order,
)
from supervisor.sandbox import SandboxHandle
from tests.sandbox.threaded import sandbox_thread


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with sandbox_thread(token="kwa_" + "e" * 43) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[KiteAlgoWorkerClient]:
    with KiteAlgoWorkerClient(AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)) as client:
        yield client


def test_raw_client_lifecycle(client: KiteAlgoWorkerClient) -> None:
    # 1. Verify connectivity
    client.health()
    # 2. Create or recover the run
    run = client.create_run(
        strategy_run_id="run_basic_equity_001",
        template_id="basic-equity",
        account_scope="kite:paper-a",
        execution_mode="paper",
        metadata={"strategy_family": "indicator_strategy", "strategy_name": "Basic Equity"},
    )
    # 3. Place an order
    order = equity_market_order("INFY", "BUY", 1)
    result = client.place_order(
        run["strategy_run_id"],
        order,
        idempotency_key="run_basic_equity_001:entry:001",
    )
    # 4. Read grouped P&L
    pnl = client.get_run_pnl("run_basic_equity_001")
    print(pnl["totals"]["net_pnl"])
    # 5. Exit when done
    client.exit_run(
        "run_basic_equity_001", reason="strategy complete", idempotency_key="run_basic_equity_001:exit:001"
    )
    assert result["status"] == "accepted"
    assert client.get_run("run_basic_equity_001")["status"] == "closed"
    # "Create or recover": running the script again recovers the run instead of failing
    again = client.create_run(
        strategy_run_id="run_basic_equity_001",
        template_id="basic-equity",
        account_scope="kite:paper-a",
        execution_mode="paper",
        metadata={"strategy_family": "indicator_strategy", "strategy_name": "Basic Equity"},
    )
    assert again["strategy_run_id"] == "run_basic_equity_001" and again["status"] == "closed"


def test_client_initialization_and_health(sandbox: SandboxHandle) -> None:
    client = KiteAlgoWorkerClient(AlgoWorkerConfig(
        base_url=sandbox.base_url,
        token=sandbox.token,
    ))  # fmt: skip
    try:
        health = client.health()
        # Returns: {"status": "healthy"}
        assert health["status"] == "healthy"
        assert sandbox.token not in repr(client)
    finally:
        client.close()


def test_managed_lifecycle(client: KiteAlgoWorkerClient) -> None:
    config = RunConfig(
        strategy_run_id="run_managed_001",
        template_id="managed-demo",
        account_scope="kite:paper-a",
        execution_mode="paper",
    )
    with client.run(config) as run:
        safety = run.safety_check()
        if not safety.can_trade:
            raise SystemExit(f"Blocked: {', '.join(safety.blocking_reasons) or safety.run_status}")
        run.place_order(
            equity_market_order("INFY", "BUY", 1),
            idempotency_key=f"{run.run_id}:entry:001",
            safety_token=safety.safety_token,
        )
        run.heartbeat(metrics={"last_signal": "entry-001"})
        # seed form of a decision event, nonce forwarded by the managed run
        run.log_decision_event(event_type="signal.generated", summary="EMA crossover detected on INFY 5min")
    assert not client.get_run("run_managed_001").get("worker_session_nonce")

    # Raw-client safety flow
    claim = client.claim_session("run_managed_001")
    safety = client.safety_check("run_managed_001")
    if not safety.can_trade:
        raise SystemExit(f"Blocked: {safety.blocking_reasons}")
    client.place_order(
        "run_managed_001",
        equity_market_order("INFY", "BUY", 1),
        idempotency_key="run_managed_001:entry:002",
        safety_token=safety.safety_token,
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
    client.update_backend_protection("run_managed_001", protection, reason="rebalance", session_nonce=nonce)
    client.patch_risk(
        "run_managed_001", {"stop_loss_pct": 1.0}, reason="volatility adjustment", session_nonce=nonce
    )
    pnl = client.get_run_pnl("run_managed_001")
    print(pnl["totals"]["net_pnl"])
    timeline = client.list_timeline_snapshot("run_managed_001", limit=20)
    for event in timeline.events:
        print(event.event_type, event.summary)
    client.log_decision_event(
        "run_managed_001",
        event_type="signal.generated",
        summary="EMA crossover detected on INFY 5min",
        details={"symbol": "INFY", "fast_ema": 1450.1, "slow_ema": 1448.3},
        session_nonce=nonce,
    )
    for event in client.stream_timeline("run_managed_001"):
        print(event["event_type"], event.get("summary"))
        break
    client.release_session("run_managed_001", session_nonce=nonce)
    assert any(
        e.event_type == "decision.signal" for e in client.list_timeline_snapshot("run_managed_001").events
    )


def test_market_data_funds_and_streams(client: KiteAlgoWorkerClient) -> None:
    funds = client.get_funds(mode="paper")
    print(funds["net"])
    client.create_run(
        strategy_run_id="run_basic_equity_002",
        template_id="basic-equity",
        account_scope="kite:paper-a",
        execution_mode="paper",
    )
    run_funds = client.get_run_funds("run_basic_equity_002")
    remaining = run_funds.get("strategy", {}).get("allocation", {}).get("remaining")
    snapshot = client.get_run_health_snapshot("run_basic_equity_002")
    print(snapshot.health_status, snapshot.session_status, snapshot.recovery_action_required, remaining)
    instrument = client.resolve_ticker("NSE:INFY")
    results = client.search_tickers("NIFTY", exchange="NFO", limit=20)
    quotes = client.get_quotes(["NSE:INFY", "NSE:RELIANCE"], mode="quote")
    print(quotes["quotes"]["NSE:INFY"]["last_price"])
    candles = client.get_candles("NSE:INFY", interval="5minute", lookback=20)
    for c in candles["candles"]:
        print(c["open"], c["high"], c["low"], c["close"])
    history = client.get_historical_candles("NSE:INFY", timeframe="day", lookback_days=366, passthrough=True)
    for event in client.stream_ticks(["NSE:INFY"], mode="quote"):
        for tick in event.get("ticks", []):
            print(tick["last_price"])
        break
    seen = 0
    for event in client.stream_candles("NSE:INFY", interval="5minute"):
        candle = event.get("current") or event
        if candle:
            print(candle["close"], candle["is_complete"])
        seen += 1  # noqa: SIM113 (the seed's loop head stays as written)
        if seen == 2:  # the snapshot, then a live candle update
            break
    for update in client.stream_run_pnl("run_basic_equity_002", interval_seconds=1.0):
        print(update["totals"]["net_pnl"])
        break
    assert instrument["tradingsymbol"] == "INFY"
    assert quotes["quotes"]["NSE:INFY"]["last_price"] > 0
    assert "results" in results and history["candles"]


def test_gtt_examples(client: KiteAlgoWorkerClient) -> None:
    result = client.place_gtt_snapshot({
        "type": "single",
        "condition": {
            "exchange": "NSE", "tradingsymbol": "INFY",
            "trigger_values": [1450.0], "last_price": 1448.0,
        },
        "orders": [{
            "exchange": "NSE", "tradingsymbol": "INFY",
            "transaction_type": "BUY", "quantity": 1,
            "order_type": "LIMIT", "product": "CNC", "price": 1450.0,
        }],
    })  # fmt: skip
    trigger = client.get_gtt_snapshot(result.trigger_id)
    print(trigger.id, trigger.status)
    triggers = client.list_gtts()
    client.get_gtt(result.trigger_id)  # the seed's 123 is whatever trigger_id place returned
    client.modify_gtt(result.trigger_id, {"condition": {"trigger_values": [1460.0], "last_price": 1455.0}})
    modified = client.get_gtt(result.trigger_id)
    client.delete_gtt(result.trigger_id)
    assert trigger.id == result.trigger_id and len(triggers) >= 1
    assert modified["condition"]["trigger_values"] == [1460.0]


def test_options_examples(client: KiteAlgoWorkerClient) -> None:
    client.options.ensure_session("NIFTY")
    expiries = client.options.list_expiries("NIFTY")
    chain = client.options.get_chain("NIFTY", expiry="current_week")
    greeks = client.options.get_greeks("NIFTY", expiry="nearest")
    leg = resolve_option_leg(
        client.options, underlying="NIFTY", product="MIS", expiry="current_week",
        selection={"option_type": "CE", "strike": chain["atm_strike"]},
        transaction_type="BUY", lots=1,
    )  # fmt: skip
    leg = resolve_offset_leg(
        client.options, underlying="NIFTY", product="MIS", expiry="current_week",
        option_type="CE", offset="ATM", transaction_type="BUY",
    )  # fmt: skip
    delta_leg = resolve_delta_leg(
        client.options, underlying="NIFTY", product="MIS", expiry="current_week",
        option_type="CE", delta_target=0.30, transaction_type="SELL",
    )  # fmt: skip
    spread = resolve_spread(
        client.options, underlying="NIFTY", product="MIS",
        spec=SpreadSpec(
            spread_type="vertical_call_spread", expiry="current_week",
            legs=[
                SpreadLegSelection(selection={"option_type": "CE", "moneyness": "ATM"}, transaction_type="SELL"),  # noqa: E501 (seed text)
                SpreadLegSelection(selection={"option_type": "CE", "moneyness": "+1_strike"}, transaction_type="BUY"),  # noqa: E501 (seed text)
            ],
        ),
    )  # fmt: skip
    option_run = client.options.create_run(
        strategy_name="Bull Call Spread",
        product="MIS",
        legs=[leg.model_dump(exclude_none=True) for leg in spread],
        protection={"stoploss_pct": 2.0},
    )
    preview = client.options.preview_entry(option_run["strategy_run_id"])
    state = client.options.get_protection_state(option_run["strategy_run_id"])
    client.options.exit(option_run["strategy_run_id"])
    assert expiries["expiries"] and greeks is not None and preview is not None and state is not None
    assert leg.quantity > 0 and delta_leg.option_type == "CE" and len(spread) == 2


def test_recovery_examples(client: KiteAlgoWorkerClient) -> None:
    from supervisor.client import wait_for_history, warmup_history

    # Poll until historical candles are available
    history = wait_for_history(client, "NSE:INFY", timeframe="day", attempts=10)
    # Poll until minimum candle count for indicator warmup
    warm = warmup_history(client, "NSE:INFY", timeframe="5minute", min_candles=50)
    assert history["candles"] and len(warm["candles"]) >= 50


def _paper_run(client: KiteAlgoWorkerClient, run_id: str) -> None:
    client.create_run(
        strategy_run_id=run_id,
        template_id="basic-equity",
        account_scope="kite:paper-a",
        execution_mode="paper",
    )


def test_raw_session_management(client: KiteAlgoWorkerClient) -> None:
    _paper_run(client, "run_session_raw_001")
    claim = client.claim_session("run_session_raw_001")
    nonce = claim["worker_session_nonce"]
    client.run_heartbeat("run_session_raw_001", session_nonce=nonce)
    client.release_session("run_session_raw_001", session_nonce=nonce)
    run = client.get_run("run_session_raw_001")
    assert not run.get("worker_session_nonce") and run["last_heartbeat_at"]


def test_order_placement_inspection_and_baskets(client: KiteAlgoWorkerClient) -> None:
    _paper_run(client, "run_basic_equity_003")
    preview = client.preview_order(
        "run_basic_equity_003",
        {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
         "variety": "regular", "product": "CNC", "order_type": "MARKET", "quantity": 1},
    )  # fmt: skip
    result = client.place_order(
        "run_basic_equity_003",
        {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
         "variety": "regular", "product": "CNC", "order_type": "MARKET", "quantity": 1},
        idempotency_key="run_basic_equity_003:entry:001",
    )  # fmt: skip
    replay = client.place_order(
        "run_basic_equity_003",
        {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
         "variety": "regular", "product": "CNC", "order_type": "MARKET", "quantity": 1},
        idempotency_key="run_basic_equity_003:entry:001",
    )  # fmt: skip
    assert preview["preview"]["cost_contract"]["margin_required"] > 0
    assert result["status"] == "accepted" and replay["status"] == "deduped"
    assert replay["result"]["order"]["order_id"] == result["result"]["order"]["order_id"]

    # cancel / modify need an order that is still open: a limit far below the market
    from supervisor.client import limit_order, wait_for_terminal_order_state

    resting = client.place_order(
        "run_basic_equity_003",
        limit_order("NSE", "INFY", "BUY", "CNC", 1, price=1.0),
        idempotency_key="run_basic_equity_003:rest:001",
    )
    order_id = resting["result"]["order"]["order_id"]
    client.modify_order("run_basic_equity_003", order_id, {"quantity": 2})
    client.cancel_order("run_basic_equity_003", order_id)
    orders = client.list_orders("run_basic_equity_003")
    trades = client.list_trades("run_basic_equity_003")
    order = wait_for_terminal_order_state(client, "run_basic_equity_003", order_id)
    assert order["status"] == "CANCELLED" and order["quantity"] == 2
    assert {o["order_id"] for o in orders["orders"]} >= {order_id} and len(trades["trades"]) == 1

    basket = client.place_basket(
        "run_basic_equity_003",
        [
            equity_market_order("INFY", "BUY", 1),
            equity_market_order("RELIANCE", "BUY", 1),
        ],
        idempotency_key="run_basic_equity_003:basket:001",
        all_or_none=True,
    )
    previewed = client.place_basket(
        "run_basic_equity_003",
        [equity_market_order("INFY", "BUY", 1)],
        idempotency_key="run_basic_equity_003:basket:002",
        dry_run=True,
    )
    basket_preview = client.preview_basket("run_basic_equity_003", [equity_market_order("INFY", "BUY", 1)])
    assert basket["result"]["status"] == "success" and len(basket["result"]["results"]) == 2
    assert previewed["result"]["status"] == "dry_run" and basket_preview["preview"]


def test_exits_and_live_exit_preview(client: KiteAlgoWorkerClient) -> None:
    _paper_run(client, "run_basic_equity_004")
    client.place_order(
        "run_basic_equity_004",
        equity_market_order("INFY", "BUY", 1),
        idempotency_key="run_basic_equity_004:e:1",
    )
    preview = client.exit_run("run_basic_equity_004", reason="target reached", dry_run=True)
    assert preview["status"] == "dry_run" and client.get_run("run_basic_equity_004")["status"] == "open"
    client.exit_run(
        "run_basic_equity_004",
        reason="target reached",
        idempotency_key="run_basic_equity_004:exit:target",
    )
    assert client.get_run("run_basic_equity_004")["status"] == "closed"


def test_options_run_lifecycle_with_safety(client: KiteAlgoWorkerClient) -> None:
    spec = SpreadSpec(
        spread_type="vertical_call_spread", expiry="current_week",
        legs=[
            SpreadLegSelection(selection={"option_type": "CE", "moneyness": "ATM"}, transaction_type="SELL"),
            SpreadLegSelection(selection={"option_type": "CE", "moneyness": "+1_strike"}, transaction_type="BUY"),  # noqa: E501 (seed text)
        ],
    )  # fmt: skip
    spread = resolve_spread(client.options, underlying="NIFTY", product="MIS", spec=spec)
    config = RunConfig(
        strategy_run_id="run_options_001", template_id="options-demo", account_scope="kite:paper-a",
        execution_mode="paper",
    )  # fmt: skip
    with client.run(config) as run:
        safety = run.safety_check()
        option_run = client.options.create_run(
            strategy_name="Bull Call Spread",
            product="MIS",
            legs=[leg.model_dump(exclude_none=True) for leg in spread],
            protection={"stoploss_pct": 2.0},
        )
        preview = client.options.preview_entry(option_run["strategy_run_id"])
        enter_result = client.options.enter(
            option_run["strategy_run_id"],
            safety_token=safety.safety_token,
            session_nonce=run.session_nonce,
        )
        state = client.options.get_protection_state(option_run["strategy_run_id"])
        client.options.exit(option_run["strategy_run_id"])
    assert preview is not None and state is not None
    assert enter_result["status"] == "entered"
    assert client.options.get_run_state(option_run["strategy_run_id"])["status"] == "exited"


def test_typical_restart_flow(client: KiteAlgoWorkerClient) -> None:
    from supervisor.client import warmup_history
    from supervisor.client.indicators import IndicatorState

    _paper_run(client, "run_restart_001")
    run = client.get_run("run_restart_001")  # 1. recover backend-owned run state
    history = warmup_history(client, "NSE:INFY", timeframe="5minute", min_candles=50)  # 2. data context
    state = IndicatorState(period=20)  # 3. rebuild local indicator state
    state.warm(history)
    for event in client.stream_candles("NSE:INFY", interval="5minute"):  # 4. reconnect streams
        candle = event.get("current") or event.get("candle")
        assert candle["close"] > 0
        break
    assert run["status"] == "open" and state.count >= 50


SEED_BUILDERS: list[Callable[[], dict[str, Any]]] = [
    lambda: equity_market_order("INFY", "BUY", 1),  # CNC, NSE, regular
    lambda: equity_market_order("INFY", "BUY", 1, product="MIS"),  # intraday
    lambda: market_order("NSE", "INFY", "BUY", "CNC", 1),
    lambda: limit_order("NSE", "INFY", "BUY", "CNC", 1, price=1450.0),
    lambda: sl_order("NSE", "INFY", "BUY", "CNC", 1, price=1450.0, trigger_price=1445.0),
    lambda: sl_m_order("NSE", "INFY", "BUY", "CNC", 1, trigger_price=1445.0),
    lambda: equity_market_order("INFY", "BUY", 1, variety="amo"),  # after-market
    lambda: amo_limit_order("NSE", "INFY", "BUY", "CNC", 1, price=1450.0),
    lambda: amo_market_order("NSE", "INFY", "BUY", "CNC", 1),
    lambda: OrderBuilder("NSE", "INFY", "BUY", "CNC", 1).market().regular().build(),
]


def test_order_builder_examples_are_accepted_by_the_sandbox(client: KiteAlgoWorkerClient) -> None:
    _paper_run(client, "run_builders_001")
    for i, build in enumerate(SEED_BUILDERS):
        result = client.place_order("run_builders_001", build(), idempotency_key=f"run_builders_001:b:{i}")
        assert result["status"] == "accepted", i
        assert result["result"]["status"] in {"filled", "accepted"}, (i, result["result"])
    # an option order is accepted by the client; the paper engine answers by its own rules
    option = client.place_order(
        "run_builders_001",
        option_market_order("NIFTY26MAY25000CE", "BUY", 75, product="NRML"),
        idempotency_key="run_builders_001:opt:1",
    )
    assert option["status"] == "accepted" and option["result"]["status"] in {"filled", "accepted", "rejected"}
