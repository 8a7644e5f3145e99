"""Protection rules of contract §7.4 as pure functions over P&L legs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from supervisor.sandbox._loops import _basket_rule, _mis_rule, _position_rule


def _leg(
    last: float, avg: float = 100.0, qty: int = 10, product: str = "CNC", exchange: str = "NSE"
) -> dict[str, Any]:
    ident = {"instrument_token": 1, "exchange": exchange, "tradingsymbol": "INFY", "product": product}
    return {
        **ident,
        "net_quantity": qty,
        "average_price": avg,
        "last_price": last,
        "gross_pnl": (last - avg) * qty,
    }


def _config(**position: Any) -> dict[str, Any]:
    base = {"symbol": "NSE:INFY", "product": "CNC", "side": "BUY", "quantity": 10, "entry_price": 100.0}
    return {"positions": [{**base, **position}]}


def test_position_stoploss_target_and_side() -> None:
    assert _position_rule(_config(stoploss_pct=2.0), {}, [_leg(98.5)]) is None
    hit = _position_rule(_config(stoploss_pct=2.0), {}, [_leg(98.0)])
    assert hit is not None and hit[0] == "position_stoploss"
    hit = _position_rule(_config(target_pct=5.0), {}, [_leg(105.0)])
    assert hit is not None and hit[0] == "position_target"
    # a SELL position loses when the price rises
    hit = _position_rule(_config(side="SELL", stoploss_pct=2.0), {}, [_leg(102.0)])
    assert hit is not None and hit[0] == "position_stoploss"
    assert _position_rule(_config(stoploss_pct=2.0), {}, [{**_leg(50.0), "tradingsymbol": "TCS"}]) is None


def test_position_trailing_stoploss_tracks_the_best() -> None:
    config = _config(trailing_stoploss_pct=3.0)
    state: dict[str, Any] = {}
    assert _position_rule(config, state, [_leg(110.0)]) is None  # best +10 %
    assert _position_rule(config, state, [_leg(108.0)]) is None  # 2 points off the best
    hit = _position_rule(config, state, [_leg(106.5)])
    assert hit is not None and hit[0] == "position_trailing_stoploss"


def test_basket_rules() -> None:
    legs = [_leg(96.0)]  # -4 % on gross exposure
    assert _basket_rule({"basket": {"stoploss_pct": 5.0}}, {}, legs) is None
    hit = _basket_rule({"basket": {"stoploss_pct": 4.0}}, {}, legs)
    assert hit is not None and hit[0] == "basket_stoploss"
    config = {"basket": {"trailing_activate_pct": 5.0, "trailing_drawdown_pct": 2.0}}
    state: dict[str, Any] = {}
    assert _basket_rule(config, state, [_leg(104.0)]) is None  # never activated
    assert _basket_rule(config, state, [_leg(106.0)]) is None  # activated at +6 %
    hit = _basket_rule(config, state, [_leg(103.9)])
    assert hit is not None and hit[0] == "basket_trailing_drawdown"
    assert state["best_basket_pnl_pct"] == 6.0


def test_mis_squareoff_buffer_uses_ist_exchange_cutoffs() -> None:
    config = {"operations": {"mis_squareoff_buffer_sec": 300}}
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    early = dt.datetime(2026, 5, 8, 15, 10, tzinfo=ist).astimezone(dt.UTC)
    late = dt.datetime(2026, 5, 8, 15, 16, tzinfo=ist).astimezone(dt.UTC)
    assert _mis_rule(config, [_leg(100.0, product="MIS")], early) is None
    assert _mis_rule(config, [_leg(100.0, product="MIS")], late) is not None
    assert _mis_rule(config, [_leg(100.0, product="CNC")], late) is None
    assert _mis_rule(config, [_leg(100.0, product="MIS", exchange="NFO")], late) is None  # NFO: 15:25
