"""Each order type's fill rule on the paper engine (pure: prices are set, time passed in)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from supervisor.sandbox._market import Market
from supervisor.sandbox._paper import PaperEngine

T0 = dt.datetime(2026, 5, 8, 4, 0, tzinfo=dt.UTC)
SCOPE = "kite:paper-a"


def _engine(price: float = 1000.0) -> PaperEngine:
    market = Market(seed=7, now=T0)
    market.prices["INFY"] = price
    return PaperEngine(market)


def _order(**extra: Any) -> dict[str, Any]:
    base = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "product": "CNC",
            "order_type": "MARKET", "quantity": 10, "variety": "regular", "validity": "DAY"}  # fmt: skip
    return {**base, **extra}


def _tick(engine: PaperEngine, price: float, now: dt.datetime = T0) -> list[dict[str, Any]]:
    engine.market.prices["INFY"] = price
    return engine.on_prices(now)


def test_market_fills_at_last_price() -> None:
    engine = _engine(1000.0)
    result = engine.place_order(SCOPE, "r", _order(), T0)
    assert result["status"] == "filled"
    assert result["order"]["average_price"] == "1000.0" and result["trade"]["quantity"] == 10
    assert result["position"]["net_quantity"] == 10


def test_limit_rests_until_crossed() -> None:
    engine = _engine(1000.0)
    result = engine.place_order(SCOPE, "r", _order(order_type="LIMIT", price=990.0), T0)
    assert result["status"] == "accepted" and result["order"]["status"] == "open"
    assert _tick(engine, 995.0) == []
    events = _tick(engine, 989.5)
    assert [e["order"]["status"] for e in events] == ["filled"]
    # marketable on arrival: fills at once
    assert engine.place_order(SCOPE, "r", _order(order_type="LIMIT", price=1200.0), T0)["status"] == "filled"


def test_stop_orders_trigger() -> None:
    engine = _engine(1000.0)
    sell_stop = engine.place_order(
        SCOPE, "r", _order(transaction_type="SELL", order_type="SL-M", trigger_price=980.0), T0
    )
    assert sell_stop["order"]["status"] == "open"
    assert _tick(engine, 981.0) == []
    assert [e["order"]["order_type"] for e in _tick(engine, 979.0)] == ["sl_m"]
    # SL: triggered, then needs its limit
    engine.place_order(SCOPE, "r", _order(order_type="SL", trigger_price=1010.0, price=1012.0), T0)
    assert _tick(engine, 1015.0) == []  # triggered but above the limit
    assert len(_tick(engine, 1011.0)) == 1


def test_ioc_cancels_what_does_not_fill() -> None:
    engine = _engine(1000.0)
    result = engine.place_order(SCOPE, "r", _order(order_type="LIMIT", price=900.0, validity="IOC"), T0)
    assert result["order"]["status"] == "cancelled"


def test_ttl_expires() -> None:
    engine = _engine(1000.0)
    engine.place_order(
        SCOPE, "r", _order(order_type="LIMIT", price=900.0, validity="TTL", validity_ttl=2), T0
    )
    assert _tick(engine, 1000.0, T0 + dt.timedelta(minutes=1)) == []
    events = _tick(engine, 1000.0, T0 + dt.timedelta(minutes=2))
    assert [e["order"]["status"] for e in events] == ["expired"]


def test_amo_queues_to_the_open() -> None:
    engine = _engine(1000.0)
    result = engine.place_order(SCOPE, "r", _order(variety="amo"), T0)
    assert result["status"] == "accepted" and result["order"]["status"] == "open"
    assert [e["order"]["status"] for e in _tick(engine, 1001.0)] == ["filled"]
    assert engine.orders("r")[0]["average_price"] == "1001.0"


def test_iceberg_fills_in_slices() -> None:
    engine = _engine(1000.0)
    result = engine.place_order(SCOPE, "r", _order(variety="iceberg", quantity=25, iceberg_legs=3,
                                                   iceberg_quantity=10), T0)  # fmt: skip
    assert [t["quantity"] for t in result["trades"]] == [10, 10, 5]
    assert len(engine.trades("r")) == 3


def test_cover_order_places_a_protective_stop() -> None:
    engine = _engine(1000.0)
    result = engine.place_order(
        SCOPE, "r", _order(product="MIS", variety="co", squareoff=30.0, stoploss=15.0), T0
    )
    stop = result["stoploss_order"]
    assert stop["parent_order_id"] == result["order"]["order_id"]
    assert stop["transaction_type"] == "sell" and stop["trigger_price"] == "985.0"
    assert [e["order"]["order_id"] for e in _tick(engine, 984.0)] == [stop["order_id"]]
    assert engine.run_pnl("r", T0)["legs"][0]["net_quantity"] == 0


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        (_order(tradingsymbol="NOPE"), "Instrument not found for NSE:NOPE"),
        (_order(quantity=10_000), "Insufficient paper funds or margin"),
    ],
)
def test_rejections_with_reasons(order: dict[str, Any], reason: str) -> None:
    result = _engine(1000.0).place_order(SCOPE, "r", order, T0)
    assert result == {"mode": "paper", "status": "rejected", "reason": reason, "order": result["order"]}
    assert result["order"]["status"] == "rejected"


def test_pnl_realised_and_unrealised_with_charges() -> None:
    engine = _engine(1000.0)
    engine.place_order(SCOPE, "r", _order(quantity=10), T0)
    _tick(engine, 1010.0)
    engine.place_order(SCOPE, "r", _order(transaction_type="SELL", quantity=4), T0)
    _tick(engine, 1020.0)
    pnl = engine.run_pnl("r", T0)
    leg = pnl["legs"][0]
    assert leg["net_quantity"] == 6 and leg["realized_pnl"] == pytest.approx(40.0)
    assert leg["unrealized_pnl"] == pytest.approx(120.0)
    assert leg["charges"] > 0 and leg["net_pnl"] == pytest.approx(160.0 - leg["charges"])


def test_snapshot_round_trip_and_flatten() -> None:
    engine = _engine(1000.0)
    engine.place_order(SCOPE, "r", _order(), T0)
    restored = PaperEngine(Market(seed=7, now=T0))
    restored.restore(engine.snapshot())
    assert restored.run_pnl("r", T0) == engine.run_pnl("r", T0)
    result = restored.flatten_run(SCOPE, "r", T0)
    assert result["status"] == "success"
    assert restored.flatten_run(SCOPE, "r", T0)["status"] == "noop"


def test_funds_are_checked_again_at_fill_time() -> None:
    engine = _engine(1000.0)
    # two resting buys of 600,000 each: each fits the 1,000,000 account when placed
    first = engine.place_order(SCOPE, "r", _order(order_type="LIMIT", price=990.0, quantity=600), T0)
    second = engine.place_order(SCOPE, "r", _order(order_type="LIMIT", price=990.0, quantity=600), T0)
    assert first["status"] == second["status"] == "accepted"
    events = _tick(engine, 989.0)
    assert [e["order"]["status"] for e in events] == ["filled", "rejected"]
    assert events[1]["order"]["metadata"]["reason"] == "Insufficient funds for fill-time margin adjustment"
    assert engine.funds(SCOPE, T0)["segments"]["equity"]["available_cash"] >= 0
    assert engine.run_pnl("r", T0)["legs"][0]["net_quantity"] == 600
