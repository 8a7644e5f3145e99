"""Backend protection constraints (contract §4.11), client models and the raw-dict validator."""

from __future__ import annotations

from typing import Any

import kite_algo_worker as sdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.client._errors import ClientValidationError, ProtectionRuleError
from supervisor.client._protection import (
    BASKET_FIELDS,
    OPERATIONS_FIELDS,
    POSITION_FIELDS,
    BackendProtection,
    BasketProtection,
    OperationalProtection,
    ProtectedPosition,
    validate_protection_dict,
)

POSITION: dict[str, Any] = {
    "symbol": "NSE:INFY",
    "product": "CNC",
    "side": "BUY",
    "quantity": 1,
    "entry_price": 1500.0,
    "stoploss_pct": 2.0,
}


def with_position(**changes: Any) -> dict[str, Any]:
    position = {k: v for k, v in (POSITION | changes).items() if v is not None}
    return {"enabled": True, "positions": [position]}


def with_basket(**basket: Any) -> dict[str, Any]:
    return {"enabled": True, "basket": basket}


def with_operations(**operations: Any) -> dict[str, Any]:
    return {"enabled": True, "operations": operations}


# (rule, path named in the message, payload)
REFUSED: list[tuple[str, str, Any]] = [
    ("section_type", "backend_protection", ["not", "a", "dict"]),
    ("section_type", "backend_protection.positions", {"positions": {"symbol": "X"}}),
    ("section_type", "backend_protection.positions", {"positions": "NSE:INFY"}),
    ("section_type", "backend_protection.positions[0]", {"positions": ["NSE:INFY"]}),
    ("section_type", "backend_protection.basket", {"basket": [1]}),
    ("unknown_field", "backend_protection", {"enabled": False, "structure": {}}),
    ("unknown_field", "backend_protection.positions[0]", with_position(stop=1)),
    ("unknown_field", "backend_protection.basket", with_basket(stoploss_pct=1, sl=2)),
    ("unknown_field", "backend_protection.operations", with_operations(exit_on_stale=True)),
    ("enabled_bool", "enabled", {"enabled": "yes"}),
    ("mode_exposure", "mode", {"mode": "premium"}),
    ("version_min", "version", {"version": 0}),
    ("version_min", "version", {"version": 1.5}),
    ("enabled_requires_rule", "backend_protection", {"enabled": True}),
    ("enabled_requires_rule", "backend_protection", {"enabled": True, "positions": []}),
    (
        "enabled_requires_rule",
        "backend_protection",
        with_operations(exit_on_worker_stale=False, worker_stale_sec=60),
    ),
    ("position_required_field", "positions[0].product", with_position(product=None)),
    ("position_required_field", "positions[0].side", with_position(side=None)),
    ("position_required_field", "positions[0].quantity", with_position(quantity=None)),
    ("position_required_field", "positions[0].entry_price", with_position(entry_price=None)),
    ("position_product_enum", "positions[0].product", with_position(product="MTF")),
    ("position_product_enum", "positions[0].product", with_position(product=1)),
    ("position_side_enum", "positions[0].side", with_position(side="LONG")),
    ("position_quantity_positive", "positions[0].quantity", with_position(quantity=0)),
    ("position_quantity_positive", "positions[0].quantity", with_position(quantity=1.5)),
    ("position_quantity_positive", "positions[0].quantity", with_position(quantity=True)),
    ("position_entry_price_positive", "positions[0].entry_price", with_position(entry_price=0)),
    ("position_entry_price_positive", "positions[0].entry_price", with_position(entry_price=-1.0)),
    ("position_entry_price_positive", "positions[0].entry_price", with_position(entry_price=float("inf"))),
    ("position_entry_price_positive", "positions[0].entry_price", with_position(entry_price="1500")),
    ("position_identity", "positions[0]", with_position(symbol=None)),
    ("position_identity", "positions[0]", with_position(symbol=" ")),
    ("position_identity", "positions[0]", with_position(symbol=None, exchange="NSE")),
    ("position_identity", "positions[0]", with_position(symbol=None, tradingsymbol="INFY")),
    ("position_identity", "positions[0].instrument_token", with_position(instrument_token=0)),
    ("position_identity", "positions[0].symbol", with_position(symbol=408065)),
    ("position_requires_rule", "positions[0]", with_position(stoploss_pct=None)),
    ("pct_range", "positions[0].stoploss_pct", with_position(stoploss_pct=0)),
    ("pct_range", "positions[0].target_pct", with_position(target_pct=1000.01)),
    ("pct_range", "positions[0].trailing_stoploss_pct", with_position(trailing_stoploss_pct=-1)),
    ("pct_range", "positions[0].stoploss_pct", with_position(stoploss_pct=float("nan"))),
    ("pct_range", "positions[0].stoploss_pct", with_position(stoploss_pct=True)),
    ("pct_range", "basket.stoploss_pct", with_basket(stoploss_pct=0.0)),
    ("pct_range", "basket.target_pct", with_basket(target_pct=1001)),
    (
        "pct_range",
        "basket.trailing_activate_pct",
        with_basket(trailing_activate_pct=0, trailing_drawdown_pct=1),
    ),
    (
        "pct_range",
        "basket.trailing_drawdown_pct",
        with_basket(trailing_activate_pct=1, trailing_drawdown_pct="2"),
    ),
    ("basket_requires_rule", "basket", with_basket()),
    ("basket_requires_rule", "basket", with_basket(trailing_activate_pct=1.0)),
    ("basket_trailing_requires_activate", "basket", with_basket(trailing_drawdown_pct=1.0)),
    (
        "operations_bool",
        "exit_on_worker_stale",
        with_operations(exit_on_worker_stale="true", worker_stale_sec=60),
    ),
    ("worker_stale_sec_required", "worker_stale_sec", with_operations(exit_on_worker_stale=True)),
    (
        "worker_stale_sec_range",
        "worker_stale_sec",
        with_operations(exit_on_worker_stale=True, worker_stale_sec=29),
    ),
    (
        "worker_stale_sec_range",
        "worker_stale_sec",
        with_operations(exit_on_worker_stale=True, worker_stale_sec=86401),
    ),
    (
        "worker_stale_sec_range",
        "worker_stale_sec",
        with_operations(exit_on_worker_stale=True, worker_stale_sec=60.0),
    ),
    (
        "mis_squareoff_buffer_sec_range",
        "mis_squareoff_buffer_sec",
        with_operations(mis_squareoff_buffer_sec=-1),
    ),
    (
        "mis_squareoff_buffer_sec_range",
        "mis_squareoff_buffer_sec",
        with_operations(mis_squareoff_buffer_sec=3601),
    ),
]

ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("disabled needs no rule", {"enabled": False}),
    ("empty object is disabled", {}),
    ("version", {"version": 7}),
    ("position by symbol", with_position()),
    ("position by token", with_position(symbol=None, instrument_token=408065)),
    ("position by exchange+tradingsymbol", with_position(symbol=None, exchange="NSE", tradingsymbol="INFY")),
    (
        "every product",
        {"enabled": True, "positions": [POSITION | {"product": p} for p in ("CNC", "MIS", "NRML")]},
    ),
    ("sell side", with_position(side="SELL")),
    ("target only", with_position(stoploss_pct=None, target_pct=3)),
    ("trailing only", with_position(stoploss_pct=None, trailing_stoploss_pct=1.5)),
    ("pct ceiling", with_position(stoploss_pct=1000)),
    ("tiny pct", with_position(stoploss_pct=0.01)),
    ("basket stoploss", with_basket(stoploss_pct=4.0)),
    ("basket target", with_basket(target_pct=1000)),
    ("basket trailing", with_basket(trailing_activate_pct=1.0, trailing_drawdown_pct=0.5)),
    ("stale exit", with_operations(exit_on_worker_stale=True, worker_stale_sec=30)),
    ("stale exit max", with_operations(exit_on_worker_stale=True, worker_stale_sec=86400)),
    ("stale limit alone", {"enabled": False, "operations": {"worker_stale_sec": 300}}),
    ("mis buffer zero counts as a rule", with_operations(mis_squareoff_buffer_sec=0)),
    ("mis buffer max", with_operations(mis_squareoff_buffer_sec=3600)),
    (
        "nulls are ignored",
        {"enabled": True, "basket": {"stoploss_pct": 1, "target_pct": None}, "version": None},
    ),
]


@pytest.mark.parametrize(
    ("rule", "path", "payload"), REFUSED, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(REFUSED)]
)
def test_validator_refuses(rule: str, path: str, payload: Any) -> None:
    with pytest.raises(ProtectionRuleError) as info:
        validate_protection_dict(payload)
    assert info.value.rule == rule
    assert path in str(info.value)
    assert isinstance(info.value, ClientValidationError)


@pytest.mark.parametrize(("name", "payload"), ACCEPTED, ids=[name for name, _ in ACCEPTED])
def test_validator_accepts(name: str, payload: dict[str, Any]) -> None:
    out = validate_protection_dict(payload)
    assert out["mode"] == "exposure"
    assert out["operations"]["exit_on_worker_stale"] in (True, False)
    # the stored form is a fixed point and rebuilds an equal model
    assert validate_protection_dict(out) == out
    assert validate_protection_dict(BackendProtection.from_dict(payload).to_dict()) == out


def test_stored_form_is_normalised_like_the_backend() -> None:
    out = validate_protection_dict(
        {
            "enabled": True,
            "positions": [
                {"symbol": "nse: infy", "product": "mis", "side": "sell", "quantity": 2, "entry_price": 1500}
                | {"stoploss_pct": 2, "target_pct": None}
            ],
        }
    )
    assert out == {
        "enabled": True,
        "mode": "exposure",
        "version": 1,
        "positions": [
            {
                "product": "MIS",
                "side": "SELL",
                "quantity": 2,
                "entry_price": 1500.0,
                "symbol": "NSE:INFY",
                "stoploss_pct": 2.0,
            }
        ],
        "operations": {"exit_on_worker_stale": False},
    }
    assert validate_protection_dict({}) == {
        "enabled": False,
        "mode": "exposure",
        "version": 1,
        "positions": [],
        "operations": {"exit_on_worker_stale": False},
    }


def test_the_seed_example_matches_the_official_sdk() -> None:
    ours = BackendProtection(
        positions=[
            ProtectedPosition(
                symbol="NSE:INFY", product="CNC", side="BUY", quantity=1, entry_price=1500.0, stoploss_pct=2.0
            )
        ],
        basket=BasketProtection(stoploss_pct=4.0),
        operations=OperationalProtection(exit_on_worker_stale=True, worker_stale_sec=300),
    )
    theirs = sdk.BackendProtection(
        positions=[
            sdk.ProtectedPosition(
                symbol="NSE:INFY", product="CNC", side="BUY", quantity=1, entry_price=1500.0, stoploss_pct=2.0
            )
        ],
        basket=sdk.BasketProtection(stoploss_pct=4.0),
        operations=sdk.OperationalProtection(exit_on_worker_stale=True, worker_stale_sec=300),
    )
    assert ours.to_dict() == theirs.to_dict()
    assert BackendProtection.from_dict(ours.to_dict()) == ours
    assert BackendProtection(enabled=False).to_dict() == {"enabled": False, "mode": "exposure", "version": 1}


def test_models_normalise_and_are_frozen() -> None:
    position = ProtectedPosition("mis", "buy", 5, 100, symbol="nse:sbin", target_pct=1)
    assert (position.product, position.side, position.symbol) == ("MIS", "BUY", "NSE:SBIN")
    assert position.entry_price == 100.0
    assert isinstance(position.target_pct, float)
    assert position.to_dict() == {
        "product": "MIS",
        "side": "BUY",
        "quantity": 5,
        "entry_price": 100.0,
        "symbol": "NSE:SBIN",
        "target_pct": 1.0,
    }
    with pytest.raises(AttributeError):
        position.quantity = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "rule"),
    [
        (
            lambda: ProtectedPosition("MTF", "BUY", 1, 1.0, symbol="X", stoploss_pct=1),
            "position_product_enum",
        ),
        (lambda: ProtectedPosition("CNC", "BUY", 1, 1.0, symbol="X"), "position_requires_rule"),
        (lambda: ProtectedPosition("CNC", "BUY", 1, 1.0, stoploss_pct=1), "position_identity"),
        (
            lambda: ProtectedPosition("CNC", "BUY", -1, 1.0, symbol="X", stoploss_pct=1),
            "position_quantity_positive",
        ),
        (lambda: ProtectedPosition("CNC", "BUY", 1, 1.0, symbol="X", stoploss_pct=1001), "pct_range"),
        (BasketProtection, "basket_requires_rule"),
        (lambda: BasketProtection(trailing_drawdown_pct=1), "basket_trailing_requires_activate"),
        (lambda: OperationalProtection(exit_on_worker_stale=True), "worker_stale_sec_required"),
        (lambda: OperationalProtection(mis_squareoff_buffer_sec=4000), "mis_squareoff_buffer_sec_range"),
        (BackendProtection, "enabled_requires_rule"),
        (lambda: BackendProtection(operations=OperationalProtection()), "enabled_requires_rule"),
        (lambda: BackendProtection(enabled=False, mode="premium"), "mode_exposure"),
        (lambda: BackendProtection(enabled=False, version=0), "version_min"),
        (
            lambda: BackendProtection(positions=[{"symbol": "X", "stoploss_pct": 1}]),  # type: ignore[list-item]
            "position_required_field",
        ),
    ],
)
def test_models_refuse_at_construction(build: Any, rule: str) -> None:
    with pytest.raises(ProtectionRuleError) as info:
        build()
    assert info.value.rule == rule


def test_models_accept_dict_sections() -> None:
    protection = BackendProtection(
        positions=[POSITION],  # type: ignore[list-item]
        basket={"target_pct": 5},  # type: ignore[arg-type]
        operations={"mis_squareoff_buffer_sec": 300},  # type: ignore[arg-type]
    )
    assert isinstance(protection.positions[0], ProtectedPosition)
    assert protection.basket == BasketProtection(target_pct=5.0)
    assert protection.operations == OperationalProtection(mis_squareoff_buffer_sec=300)
    assert protection.to_dict()["operations"] == {
        "exit_on_worker_stale": False,
        "mis_squareoff_buffer_sec": 300,
    }


def test_from_dict_refuses_unknown_keys() -> None:
    with pytest.raises(ProtectionRuleError) as info:
        BackendProtection.from_dict({"enabled": False, "positions": [POSITION | {"note": "x"}]})
    assert info.value.rule == "unknown_field"
    assert "note" in str(info.value)


# -- robustness ----------------------------------------------------------------------------------

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 100_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["CNC", "mis", "BUY", "sell", "NSE:INFY", "exposure", "", "x"]),
)
POSITIONS = st.dictionaries(st.sampled_from([*POSITION_FIELDS, "extra"]), VALUES, max_size=8)
PAYLOADS = st.fixed_dictionaries(
    {},
    optional={
        "enabled": VALUES,
        "mode": VALUES,
        "version": VALUES,
        "positions": st.lists(st.one_of(POSITIONS, st.just(POSITION)), max_size=2),
        "basket": st.dictionaries(st.sampled_from([*BASKET_FIELDS, "extra"]), VALUES, max_size=4),
        "operations": st.dictionaries(st.sampled_from([*OPERATIONS_FIELDS, "extra"]), VALUES, max_size=3),
    },
)


@settings(max_examples=300)
@given(PAYLOADS)
def test_any_payload_is_refused_by_rule_or_round_trips(payload: dict[str, Any]) -> None:
    try:
        out = validate_protection_dict(payload)
    except ProtectionRuleError as exc:
        assert exc.rule
        return
    assert validate_protection_dict(out) == out
    assert validate_protection_dict(BackendProtection.from_dict(out).to_dict()) == out
