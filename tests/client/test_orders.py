"""Order rules (contract §6.2, SDK README "Field constraints"): each accepted and refused, by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kite_algo_worker as sdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.client._errors import ClientValidationError, OrderRuleError
from supervisor.client._order_rules import FIELDS, FORBIDDEN_FIELDS, ORDER_RULES, VALIDITIES, VARIETIES
from supervisor.client._orders import (
    OrderBuilder,
    amo_limit_order,
    amo_market_order,
    equity_market_order,
    limit_order,
    market_order,
    option_market_order,
    sl_m_order,
    sl_order,
    validate_order,
)

DROP = object()
BASE: dict[str, Any] = {
    "exchange": "NSE",
    "tradingsymbol": "INFY",
    "transaction_type": "BUY",
    "product": "CNC",
    "order_type": "MARKET",
    "quantity": 10,
}
LIMIT = {"order_type": "LIMIT", "price": 1450.0}
SL = {"order_type": "SL", "price": 1450.0, "trigger_price": 1445.0}
SLM = {"order_type": "SL-M", "trigger_price": 1445.0}
ICEBERG = {"variety": "iceberg", "iceberg_legs": 2, "iceberg_quantity": 5}
CO = {"variety": "co", "squareoff": 20.0, "stoploss": 5.0}


def order(**overrides: Any) -> dict[str, Any]:
    merged = BASE | overrides
    return {key: value for key, value in merged.items() if value is not DROP}


# (rule, the field its message must name, the order)
REFUSED: list[tuple[str, str, Any]] = [
    ("order_mapping", "list", [("exchange", "NSE")]),
    ("required_field", "exchange", order(exchange=DROP)),
    ("required_field", "tradingsymbol", order(tradingsymbol=None)),
    ("required_field", "transaction_type", order(transaction_type=DROP)),
    ("required_field", "product", order(product=DROP)),
    ("required_field", "order_type", order(order_type=DROP)),
    ("required_field", "quantity", order(quantity=DROP)),
    ("unknown_field", "side", order(side="BUY")),
    ("attribution_forbidden", "tag", order(tag="x")),
    ("attribution_forbidden", "tags", order(tags=["x"])),
    ("attribution_forbidden", "attribution", order(attribution={})),
    ("exchange_enum", "exchange", order(exchange="nse")),
    ("exchange_enum", "exchange", order(exchange="NASDAQ")),
    ("exchange_enum", "exchange", order(exchange=["NSE"])),
    ("tradingsymbol_nonempty", "tradingsymbol", order(tradingsymbol="  ")),
    ("tradingsymbol_nonempty", "tradingsymbol", order(tradingsymbol=408065)),
    ("transaction_type_enum", "transaction_type", order(transaction_type="buy")),
    ("product_enum", "product", order(product="BO")),
    ("variety_enum", "variety", order(variety="REGULAR")),
    ("variety_enum", "variety", order(variety="bo")),
    ("order_type_enum", "order_type", order(order_type="STOP")),
    ("validity_enum", "validity", order(validity="GTC")),
    ("quantity_positive_int", "quantity", order(quantity=0)),
    ("quantity_positive_int", "quantity", order(quantity=-1)),
    ("quantity_positive_int", "quantity", order(quantity=1.0)),
    ("quantity_positive_int", "quantity", order(quantity=True)),
    ("quantity_positive_int", "quantity", order(quantity="1")),
    ("price_number", "price", order(**LIMIT | {"price": -1.0})),
    ("price_number", "price", order(**LIMIT | {"price": float("nan")})),
    ("price_number", "price", order(**LIMIT | {"price": float("inf")})),
    ("price_number", "price", order(**LIMIT | {"price": "1450"})),
    ("price_number", "trigger_price", order(**SL | {"trigger_price": True})),
    ("limit_requires_price", "price", order(order_type="LIMIT")),
    ("limit_requires_price", "price", order(order_type="LIMIT", price=0)),
    ("sl_requires_price", "price", order(**SL | {"price": DROP})),
    ("sl_requires_price", "price", order(**SL | {"price": 0.0})),
    ("sl_requires_trigger_price", "trigger_price", order(**SL | {"trigger_price": DROP})),
    ("sl_requires_trigger_price", "trigger_price", order(**SL | {"trigger_price": 0})),
    ("sl_m_requires_trigger_price", "trigger_price", order(order_type="SL-M")),
    ("sl_m_requires_trigger_price", "trigger_price", order(order_type="SL-M", trigger_price=0)),
    ("market_price_not_allowed", "price", order(price=1450.0)),
    ("sl_m_price_not_allowed", "price", order(**SLM, price=1440.0)),
    ("trigger_price_not_allowed", "trigger_price", order(trigger_price=1445.0)),
    ("trigger_price_not_allowed", "trigger_price", order(**LIMIT, trigger_price=1445.0)),
    ("disclosed_quantity_range", "disclosed_quantity", order(disclosed_quantity=11)),
    ("disclosed_quantity_range", "disclosed_quantity", order(disclosed_quantity=-1)),
    ("disclosed_quantity_range", "disclosed_quantity", order(disclosed_quantity=2.0)),
    ("market_protection_order_type", "market_protection", order(**LIMIT, market_protection=5)),
    ("market_protection_order_type", "market_protection", order(**SL, market_protection=-1)),
    ("market_protection_range", "market_protection", order(market_protection=101)),
    ("market_protection_range", "market_protection", order(market_protection=-2)),
    ("market_protection_range", "market_protection", order(**SLM, market_protection=2.5)),
    ("validity_ttl_required", "validity_ttl", order(validity="TTL")),
    ("validity_ttl_range", "validity_ttl", order(validity="TTL", validity_ttl=0)),
    ("validity_ttl_range", "validity_ttl", order(validity="TTL", validity_ttl=366)),
    ("validity_ttl_range", "validity_ttl", order(validity="TTL", validity_ttl=5.0)),
    ("validity_ttl_requires_ttl", "validity_ttl", order(validity_ttl=5)),
    ("validity_ttl_requires_ttl", "validity_ttl", order(validity="IOC", validity_ttl=5)),
    ("autoslice_bool", "autoslice", order(autoslice="true")),
    ("autoslice_bool", "autoslice", order(autoslice=1)),
    ("iceberg_requires_legs_and_quantity", "iceberg_legs", order(variety="iceberg")),
    ("iceberg_requires_legs_and_quantity", "iceberg_quantity", order(**ICEBERG | {"iceberg_legs": DROP})),
    ("iceberg_requires_legs_and_quantity", "iceberg_quantity", order(**ICEBERG | {"iceberg_quantity": None})),
    ("iceberg_legs_range", "iceberg_legs", order(**ICEBERG | {"iceberg_legs": 1})),
    ("iceberg_legs_range", "iceberg_legs", order(**ICEBERG | {"iceberg_legs": 11})),
    ("iceberg_legs_range", "iceberg_legs", order(**ICEBERG | {"iceberg_legs": 2.0})),
    ("iceberg_quantity_positive", "iceberg_quantity", order(**ICEBERG | {"iceberg_quantity": 0})),
    ("iceberg_quantity_positive", "iceberg_quantity", order(**ICEBERG | {"iceberg_quantity": "5"})),
    ("amo_iceberg_forbidden", "amo", order(**ICEBERG | {"variety": "amo"})),
    ("amo_iceberg_forbidden", "amo", order(variety="amo", iceberg_legs=3)),
    ("iceberg_fields_require_iceberg_variety", "iceberg", order(iceberg_legs=3, iceberg_quantity=5)),
    ("iceberg_fields_require_iceberg_variety", "iceberg", order(variety="co", iceberg_quantity=5)),
    ("co_requires_squareoff_and_stoploss", "squareoff", order(variety="co")),
    ("co_requires_squareoff_and_stoploss", "stoploss", order(**CO | {"stoploss": DROP})),
    ("co_requires_squareoff_and_stoploss", "squareoff", order(**CO | {"squareoff": None})),
    ("co_values_positive", "squareoff", order(**CO | {"squareoff": 0})),
    ("co_values_positive", "stoploss", order(**CO | {"stoploss": -5.0})),
    ("co_values_positive", "trailing_stoploss", order(**CO, trailing_stoploss=0.0)),
    ("co_values_positive", "trailing_stoploss", order(**CO, trailing_stoploss="1")),
    ("co_fields_require_co_variety", "stoploss", order(stoploss=5.0)),
    ("co_fields_require_co_variety", "trailing_stoploss", order(variety="amo", trailing_stoploss=1.0)),
    ("auction_requires_auction_number", "auction_number", order(variety="auction")),
    ("auction_number_requires_auction_variety", "auction_number", order(auction_number="22")),
    ("auction_number_format", "auction_number", order(variety="auction", auction_number="")),
    ("auction_number_format", "auction_number", order(variety="auction", auction_number="A1")),
    ("auction_number_format", "auction_number", order(variety="auction", auction_number=0)),
    ("metadata_mapping", "metadata", order(metadata=["signal"])),
    ("metadata_mapping", "metadata", order(metadata={1: "x"})),
]

# (rule, an order at the edge of what the rule allows)
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("order_mapping", order()),
    ("required_field", order()),
    ("unknown_field", order(metadata={"signal": "ema"})),
    ("attribution_forbidden", order()),
    *[("exchange_enum", order(exchange=e)) for e in ("NSE", "BSE", "NFO", "CDS", "MCX", "BFO")],
    ("tradingsymbol_nonempty", order(tradingsymbol="NIFTY26MAY25000CE")),
    *[("transaction_type_enum", order(transaction_type=t)) for t in ("BUY", "SELL")],
    *[("product_enum", order(product=p)) for p in ("CNC", "MIS", "NRML", "MTF")],
    ("variety_enum", order(variety="regular")),
    ("variety_enum", order(variety="amo")),
    ("variety_enum", order(**CO)),
    ("variety_enum", order(**ICEBERG)),
    ("variety_enum", order(variety="auction", auction_number="22")),
    ("order_type_enum", order()),
    ("order_type_enum", order(**LIMIT)),
    ("order_type_enum", order(**SL)),
    ("order_type_enum", order(**SLM)),
    *[("validity_enum", order(validity=v)) for v in ("DAY", "IOC")],
    ("quantity_positive_int", order(quantity=1)),
    ("price_number", order(**LIMIT | {"price": 1})),
    ("limit_requires_price", order(**LIMIT | {"price": 0.05})),
    ("sl_requires_price", order(**SL)),
    ("sl_requires_trigger_price", order(**SL)),
    ("sl_m_requires_trigger_price", order(**SLM)),
    ("market_price_not_allowed", order(price=0)),
    ("market_price_not_allowed", order(price=None)),
    ("sl_m_price_not_allowed", order(**SLM, price=0.0)),
    ("trigger_price_not_allowed", order(**LIMIT, trigger_price=0)),
    ("disclosed_quantity_range", order(disclosed_quantity=10)),
    ("disclosed_quantity_range", order(disclosed_quantity=0)),
    ("market_protection_order_type", order(market_protection=5)),
    ("market_protection_order_type", order(**SLM, market_protection=5)),
    ("market_protection_range", order(market_protection=-1)),
    ("market_protection_range", order(market_protection=0)),
    ("market_protection_range", order(market_protection=100)),
    ("validity_ttl_required", order(validity="TTL", validity_ttl=1)),
    ("validity_ttl_range", order(validity="TTL", validity_ttl=365)),
    ("validity_ttl_requires_ttl", order(validity="TTL", validity_ttl=30)),
    ("autoslice_bool", order(autoslice=False)),
    ("autoslice_bool", order(autoslice=True)),
    ("iceberg_requires_legs_and_quantity", order(**ICEBERG)),
    ("iceberg_legs_range", order(**ICEBERG | {"iceberg_legs": 10})),
    ("iceberg_quantity_positive", order(**ICEBERG | {"iceberg_quantity": 1})),
    ("amo_iceberg_forbidden", order(variety="amo")),
    ("iceberg_fields_require_iceberg_variety", order(**ICEBERG, **LIMIT)),
    ("co_requires_squareoff_and_stoploss", order(**CO, **SL)),
    ("co_values_positive", order(**CO, trailing_stoploss=0.5)),
    ("co_fields_require_co_variety", order(**CO, **LIMIT)),
    ("auction_requires_auction_number", order(variety="auction", auction_number="1")),
    ("auction_number_requires_auction_variety", order(**LIMIT, variety="auction", auction_number="7")),
    ("auction_number_format", order(variety="auction", auction_number=22)),
    ("metadata_mapping", order(metadata={})),
]


@pytest.mark.parametrize(
    ("rule", "field", "bad"), REFUSED, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(REFUSED)]
)
def test_rule_refuses(rule: str, field: str, bad: Any) -> None:
    with pytest.raises(OrderRuleError) as info:
        validate_order(bad)
    assert info.value.rule == rule
    assert field in str(info.value)
    assert rule in str(info.value)
    assert isinstance(info.value, ClientValidationError)
    assert isinstance(info.value, ValueError)
    assert info.value.status_code == 0


@pytest.mark.parametrize(("rule", "good"), ACCEPTED, ids=[f"{r}-{i}" for i, (r, _) in enumerate(ACCEPTED)])
def test_rule_accepts(rule: str, good: dict[str, Any]) -> None:
    assert rule in ORDER_RULES
    out = validate_order(good)
    expected = {k: (str(v) if k == "auction_number" else v) for k, v in good.items() if v is not None}
    assert out == {"variety": "regular", "validity": "DAY"} | expected


def test_every_rule_is_tested_both_ways() -> None:
    assert {rule for rule, _, _ in REFUSED} == set(ORDER_RULES)
    assert {rule for rule, _ in ACCEPTED} == set(ORDER_RULES)


def test_validate_normalises() -> None:
    source = {"quantity": 1, "order_type": "LIMIT", "price": 10, "product": "MIS", "exchange": "NSE"}
    source |= {"transaction_type": "SELL", "tradingsymbol": "SBIN", "trigger_price": None, "autoslice": False}
    out = validate_order(source)
    assert list(out) == [
        "exchange",
        "tradingsymbol",
        "transaction_type",
        "variety",
        "product",
        "order_type",
        "quantity",
        "price",
        "validity",
        "autoslice",
    ]
    assert out["variety"] == "regular"
    assert out["validity"] == "DAY"
    assert out["autoslice"] is False  # False and 0 are kept, None dropped
    assert validate_order(out) == out  # idempotent
    assert source["trigger_price"] is None  # the input is not modified


def test_auction_number_int_becomes_string() -> None:
    out = validate_order(order(variety="auction", auction_number=22))
    assert out["auction_number"] == "22"


def test_metadata_is_copied() -> None:
    meta = {"signal": "ema"}
    out = validate_order(order(metadata=meta))
    assert out["metadata"] == meta
    assert out["metadata"] is not meta


# -- builders ----------------------------------------------------------------------------------

SEED_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("equity_market_order", ("INFY", "BUY", 1), {}),
    ("equity_market_order", ("INFY", "BUY", 1), {"product": "MIS"}),
    ("equity_market_order", ("INFY", "BUY", 1), {"variety": "amo"}),
    ("market_order", ("NSE", "INFY", "BUY", "CNC", 1), {}),
    ("limit_order", ("NSE", "INFY", "BUY", "CNC", 1), {"price": 1450.0}),
    ("sl_order", ("NSE", "INFY", "BUY", "CNC", 1), {"price": 1450.0, "trigger_price": 1445.0}),
    ("sl_m_order", ("NSE", "INFY", "BUY", "CNC", 1), {"trigger_price": 1445.0}),
    ("option_market_order", ("NIFTY26MAY25000CE", "BUY", 75), {"product": "NRML"}),
    ("amo_limit_order", ("NSE", "INFY", "BUY", "CNC", 1), {"price": 1450.0}),
    ("amo_market_order", ("NSE", "INFY", "BUY", "CNC", 1), {}),
    ("market_order", ("NSE", "INFY", "BUY", "MIS", 10), {"disclosed_quantity": 2, "market_protection": -1}),
    ("market_order", ("NSE", "INFY", "BUY", "MIS", 10), {"validity": "TTL", "validity_ttl": 5}),
    ("market_order", ("NSE", "INFY", "BUY", "MIS", 10), {"autoslice": False, "validity": "IOC"}),
    (
        "limit_order",
        ("NSE", "INFY", "BUY", "MIS", 10, 1450.0, "iceberg"),
        {"iceberg_legs": 2, "iceberg_quantity": 5},
    ),
    ("sl_order", ("NSE", "INFY", "SELL", "MIS", 10, 1440.0, 1445.0, "co"), {"squareoff": 20, "stoploss": 5}),
    ("limit_order", ("NSE", "INFY", "BUY", "CNC", 1, 1450.0, "auction"), {"auction_number": "22"}),
    ("sl_m_order", ("NFO", "NIFTY26MAY25000PE", "SELL", "NRML", 75, 120.0), {"market_protection": 10}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), SEED_CALLS)
def test_builders_match_the_official_sdk(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    ours: Callable[..., dict[str, Any]] = globals()[name]
    theirs: Callable[..., dict[str, Any]] = getattr(sdk, name)
    result = ours(*args, **kwargs)
    assert result == theirs(*args, **kwargs)
    assert list(result) == list(theirs(*args, **kwargs))  # same key order too


def test_documented_dicts_exactly() -> None:
    assert equity_market_order("INFY", "BUY", 1) == {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "variety": "regular",
        "product": "CNC",
        "order_type": "MARKET",
        "quantity": 1,
        "validity": "DAY",
    }
    assert option_market_order("NIFTY26MAY25000CE", "BUY", 75, product="NRML") == {
        "exchange": "NFO",
        "tradingsymbol": "NIFTY26MAY25000CE",
        "transaction_type": "BUY",
        "variety": "regular",
        "product": "NRML",
        "order_type": "MARKET",
        "quantity": 75,
        "validity": "DAY",
    }
    assert amo_limit_order("NSE", "INFY", "BUY", "CNC", 1, price=1450.0)["variety"] == "amo"
    assert sl_m_order("NSE", "INFY", "BUY", "CNC", 1, trigger_price=1445.0)["order_type"] == "SL-M"
    assert "price" not in sl_m_order("NSE", "INFY", "BUY", "CNC", 1, trigger_price=1445.0)


@pytest.mark.parametrize(
    ("call", "rule"),
    [
        (lambda: market_order("NSE", "INFY", "BUY", "CNC", 0), "quantity_positive_int"),
        (lambda: limit_order("NSE", "INFY", "BUY", "CNC", 1, price=0), "limit_requires_price"),
        (lambda: sl_order("NSE", "INFY", "BUY", "CNC", 1, 1450.0, 0), "sl_requires_trigger_price"),
        (lambda: sl_m_order("NSE", "INFY", "BUY", "CNC", 1, 0), "sl_m_requires_trigger_price"),
        (lambda: equity_market_order("INFY", "BUY", 1, variety="co"), "co_requires_squareoff_and_stoploss"),
        (lambda: amo_market_order("NSE", "INFY", "BUY", "CNC", 1, iceberg_legs=2), "amo_iceberg_forbidden"),
        (lambda: option_market_order("X", "BUY", 75, market_protection=500), "market_protection_range"),
        (
            lambda: amo_limit_order("NSE", "INFY", "BUY", "CNC", 1, 10.0, validity_ttl=3),
            "validity_ttl_requires_ttl",
        ),
    ],
)
def test_builders_refuse_by_rule(call: Callable[[], object], rule: str) -> None:
    with pytest.raises(OrderRuleError) as info:
        call()
    assert info.value.rule == rule


@pytest.mark.parametrize("name", ["tag", "tags", "attribution"])
def test_builders_refuse_attribution_keywords(name: str) -> None:
    extra: dict[str, Any] = {name: "mine"}
    with pytest.raises(OrderRuleError) as info:
        equity_market_order("INFY", "BUY", 1, **extra)
    assert info.value.rule == "attribution_forbidden"


def test_builders_refuse_unknown_keywords() -> None:
    extra: dict[str, Any] = {"trigger": 1.0}
    with pytest.raises(OrderRuleError) as info:
        market_order("NSE", "INFY", "BUY", "CNC", 1, **extra)
    assert info.value.rule == "unknown_field"


# -- fluent builder ----------------------------------------------------------------------------


def test_fluent_builder_seed_example() -> None:
    built = OrderBuilder("NSE", "INFY", "BUY", "CNC", 1).market().regular().build()
    assert built == market_order("NSE", "INFY", "BUY", "CNC", 1)


def test_fluent_builder_every_step() -> None:
    base = OrderBuilder("NSE", "INFY", "SELL", "MIS", 10)
    assert base.limit(1450.0).build() == limit_order("NSE", "INFY", "SELL", "MIS", 10, 1450.0)
    assert base.sl(1440.0, 1445.0).build() == sl_order("NSE", "INFY", "SELL", "MIS", 10, 1440.0, 1445.0)
    assert base.sl_m(1445.0).build() == sl_m_order("NSE", "INFY", "SELL", "MIS", 10, 1445.0)
    assert base.market().amo().build() == amo_market_order("NSE", "INFY", "SELL", "MIS", 10)
    co = base.sl(1440.0, 1445.0).co(squareoff=20.0, stoploss=5.0, trailing_stoploss=1.0).build()
    assert co == sl_order(
        "NSE",
        "INFY",
        "SELL",
        "MIS",
        10,
        1440.0,
        1445.0,
        "co",
        squareoff=20.0,
        stoploss=5.0,
        trailing_stoploss=1.0,
    )
    iceberg = base.limit(1450.0).iceberg(3, 4).ttl(10).disclosed(2).build()
    assert iceberg["variety"] == "iceberg"
    assert (iceberg["iceberg_legs"], iceberg["iceberg_quantity"]) == (3, 4)
    assert (iceberg["validity"], iceberg["validity_ttl"], iceberg["disclosed_quantity"]) == ("TTL", 10, 2)
    auction = base.limit(1450.0).auction(22).ioc().build()
    assert (auction["auction_number"], auction["validity"]) == ("22", "IOC")
    protected = base.market().market_protection(-1).autoslice().build()
    assert (protected["market_protection"], protected["autoslice"]) == (-1, True)


def test_fluent_builder_is_immutable_and_steps_replace() -> None:
    base = OrderBuilder("NSE", "INFY", "BUY", "CNC", 1)
    limit = base.limit(1450.0)
    assert base.market().build()["order_type"] == "MARKET"
    assert limit.build()["price"] == 1450.0
    # switching the type drops the old prices, switching variety drops the old variety's fields
    assert "price" not in limit.market().build()
    assert "trigger_price" not in base.sl(1.0, 2.0).limit(3.0).build()
    assert "iceberg_legs" not in limit.iceberg(2, 1).regular().build()
    assert "validity_ttl" not in limit.ttl(5).day().build()
    assert "OrderBuilder" in repr(limit)


def test_fluent_builder_refuses_at_build() -> None:
    with pytest.raises(OrderRuleError) as info:
        OrderBuilder("NSE", "INFY", "BUY", "CNC", 1).build()
    assert info.value.rule == "required_field"
    assert "order_type" in str(info.value)
    with pytest.raises(OrderRuleError) as info:
        OrderBuilder("NSE", "INFY", "BUY", "CNC", 10).market().iceberg(1, 5).build()
    assert info.value.rule == "iceberg_legs_range"
    # .amo() after .iceberg() replaces the variety and drops the iceberg fields
    built = OrderBuilder("NSE", "INFY", "BUY", "CNC", 10).market().iceberg(2, 5).amo().build()
    assert built == amo_market_order("NSE", "INFY", "BUY", "CNC", 10)


def test_fluent_builder_namespace_functions() -> None:
    assert OrderBuilder.equity_market_order("INFY", "BUY", 1) == equity_market_order("INFY", "BUY", 1)
    assert OrderBuilder.limit_order("NSE", "INFY", "BUY", "CNC", 1, 5.0) == limit_order(
        "NSE", "INFY", "BUY", "CNC", 1, 5.0
    )


# -- robustness ----------------------------------------------------------------------------------

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["NSE", "NFO", "INFY", "BUY", "SELL", "CNC", "MIS", "regular", "amo", "co", "iceberg"]),
    st.sampled_from(["auction", "MARKET", "LIMIT", "SL", "SL-M", "DAY", "IOC", "TTL", "22", ""]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
KEYS = st.sampled_from([*FIELDS, "tag", "side"])


@settings(max_examples=300)
@given(base=st.booleans(), fields=st.dictionaries(KEYS, ANY_VALUE, max_size=8))
def test_any_input_is_either_refused_by_rule_or_valid(base: bool, fields: dict[str, Any]) -> None:
    candidate = (BASE | fields) if base else fields
    try:
        out = validate_order(candidate)
    except OrderRuleError as exc:
        assert exc.rule in ORDER_RULES
        return
    assert validate_order(out) == out
    assert not FORBIDDEN_FIELDS & set(out)
    assert None not in out.values()
    assert out["variety"] in VARIETIES
    assert out["validity"] in VALIDITIES
