"""Order field rules: :func:`validate_order` (contract §6.1, §6.2; SDK README "Field constraints").

Every rule of the SDK README and of the live order model is checked here, including the ones
nobody enforces on the backend (AMO with iceberg, CO fields; contract §11 #13). A failing order
raises :class:`~supervisor.client._errors.OrderRuleError` whose ``rule`` is a key of
:data:`ORDER_RULES` and whose message names the field and the offending value.

The normalised output always carries ``variety`` (default ``regular``) and ``validity`` (default
``DAY``), drops ``None`` values, keeps ``0``/``False``, uses the canonical key order, and never
contains ``tag``/``tags``/``attribution`` (the backend owns attribution). Pure; never blocks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._errors import OrderRuleError

__all__ = [
    "EXCHANGES",
    "ORDER_RULES",
    "ORDER_TYPES",
    "PRODUCTS",
    "TRANSACTION_TYPES",
    "VALIDITIES",
    "VARIETIES",
    "validate_order",
]

EXCHANGES = frozenset({"NSE", "BSE", "NFO", "CDS", "MCX", "BFO"})
TRANSACTION_TYPES = frozenset({"BUY", "SELL"})
PRODUCTS = frozenset({"CNC", "MIS", "NRML", "MTF"})
VARIETIES = frozenset({"regular", "amo", "co", "iceberg", "auction"})
ORDER_TYPES = frozenset({"MARKET", "LIMIT", "SL", "SL-M"})
VALIDITIES = frozenset({"DAY", "IOC", "TTL"})

# Canonical key order of an order payload (the SDK builders' order).
FIELDS = (
    "exchange",
    "tradingsymbol",
    "transaction_type",
    "variety",
    "product",
    "order_type",
    "quantity",
    "price",
    "trigger_price",
    "validity",
    "validity_ttl",
    "disclosed_quantity",
    "market_protection",
    "autoslice",
    "iceberg_legs",
    "iceberg_quantity",
    "auction_number",
    "squareoff",
    "stoploss",
    "trailing_stoploss",
    "metadata",
)
FORBIDDEN_FIELDS = frozenset({"tag", "tags", "attribution"})
ICEBERG_FIELDS = ("iceberg_legs", "iceberg_quantity")
CO_FIELDS = ("squareoff", "stoploss", "trailing_stoploss")

ORDER_RULES: Mapping[str, str] = {
    "order_mapping": "an order is a mapping of field names to values",
    "required_field": "exchange, tradingsymbol, transaction_type, product, order_type, quantity are required",
    "unknown_field": "only the documented order fields may be sent",
    "attribution_forbidden": "never send tag, tags or attribution; the backend injects attribution",
    "exchange_enum": "exchange is one of " + ", ".join(sorted(EXCHANGES)),
    "tradingsymbol_nonempty": "tradingsymbol is a non-empty string",
    "transaction_type_enum": "transaction_type is BUY or SELL",
    "product_enum": "product is one of " + ", ".join(sorted(PRODUCTS)),
    "variety_enum": "variety is one of " + ", ".join(sorted(VARIETIES)),
    "order_type_enum": "order_type is one of " + ", ".join(sorted(ORDER_TYPES)),
    "validity_enum": "validity is one of " + ", ".join(sorted(VALIDITIES)),
    "quantity_positive_int": "quantity is a positive integer",
    "price_number": "price and trigger_price are finite numbers >= 0",
    "limit_requires_price": "LIMIT orders need price > 0",
    "sl_requires_price": "SL orders need price > 0",
    "sl_requires_trigger_price": "SL orders need trigger_price > 0",
    "sl_m_requires_trigger_price": "SL-M orders need trigger_price > 0",
    "market_price_not_allowed": "MARKET orders omit price or send 0",
    "sl_m_price_not_allowed": "SL-M orders omit price or send 0",
    "trigger_price_not_allowed": "only SL and SL-M orders carry a trigger_price (omit it or send 0)",
    "disclosed_quantity_range": "disclosed_quantity is an integer in 0..quantity",
    "market_protection_order_type": "market_protection is allowed only for MARKET and SL-M orders",
    "market_protection_range": "market_protection is an integer, -1 or 0..100",
    "validity_ttl_required": "validity TTL needs validity_ttl",
    "validity_ttl_range": "validity_ttl is an integer in 1..365 (minutes)",
    "validity_ttl_requires_ttl": "validity_ttl is allowed only with validity TTL",
    "autoslice_bool": "autoslice is a bool",
    "iceberg_requires_legs_and_quantity": "iceberg orders need iceberg_legs and iceberg_quantity",
    "iceberg_legs_range": "iceberg_legs is an integer in 2..10",
    "iceberg_quantity_positive": "iceberg_quantity is a positive integer",
    "amo_iceberg_forbidden": "AMO orders cannot be iceberg orders",
    "iceberg_fields_require_iceberg_variety": "iceberg_legs/iceberg_quantity need variety iceberg",
    "co_requires_squareoff_and_stoploss": "CO orders need squareoff and stoploss",
    "co_values_positive": "squareoff, stoploss and trailing_stoploss are numbers > 0",
    "co_fields_require_co_variety": "squareoff/stoploss/trailing_stoploss need variety co",
    "auction_requires_auction_number": "auction orders need auction_number",
    "auction_number_requires_auction_variety": "auction_number needs variety auction",
    "auction_number_format": "auction_number is a non-empty string of digits",
    "metadata_mapping": "metadata is an object with string keys",
}


def _fail(rule: str, detail: str) -> OrderRuleError:
    return OrderRuleError(f"invalid order: {detail} [rule {rule}: {ORDER_RULES[rule]}]", rule=rule)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float)) and not isinstance(value, bool) and math.isfinite(value)


def _enum(order: dict[str, Any], name: str, allowed: frozenset[str]) -> None:
    value = order[name]
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(sorted(allowed))
        raise _fail(f"{name}_enum", f"{name} must be one of {choices} (exact case), got {value!r}")


def _check_prices(order: dict[str, Any]) -> None:
    order_type = order["order_type"]
    price, trigger = order.get("price"), order.get("trigger_price")
    for name, value in (("price", price), ("trigger_price", trigger)):
        if value is not None and (not _is_number(value) or value < 0):
            raise _fail("price_number", f"{name} must be a finite number >= 0, got {value!r}")
    if order_type == "LIMIT" and not price:
        raise _fail("limit_requires_price", f"price must be > 0 for a LIMIT order, got {price!r}")
    if order_type == "SL" and not price:
        raise _fail("sl_requires_price", f"price must be > 0 for an SL order, got {price!r}")
    if order_type == "SL" and not trigger:
        raise _fail(
            "sl_requires_trigger_price", f"trigger_price must be > 0 for an SL order, got {trigger!r}"
        )
    if order_type == "SL-M" and not trigger:
        raise _fail(
            "sl_m_requires_trigger_price", f"trigger_price must be > 0 for an SL-M order, got {trigger!r}"
        )
    if order_type == "MARKET" and price:
        raise _fail(
            "market_price_not_allowed", f"price must be omitted or 0 for a MARKET order, got {price!r}"
        )
    if order_type == "SL-M" and price:
        raise _fail("sl_m_price_not_allowed", f"price must be omitted or 0 for an SL-M order, got {price!r}")
    if order_type in ("MARKET", "LIMIT") and trigger:
        raise _fail(
            "trigger_price_not_allowed",
            f"trigger_price must be omitted or 0 for {order_type}, got {trigger!r}",
        )


def _check_quantities(order: dict[str, Any]) -> None:
    quantity = order["quantity"]
    if not _is_int(quantity) or quantity <= 0:
        raise _fail("quantity_positive_int", f"quantity must be a positive integer, got {quantity!r}")
    disclosed = order.get("disclosed_quantity")
    if disclosed is not None and (not _is_int(disclosed) or not 0 <= disclosed <= quantity):
        raise _fail(
            "disclosed_quantity_range",
            f"disclosed_quantity must be an integer in 0..{quantity} (the quantity), got {disclosed!r}",
        )
    protection = order.get("market_protection")
    if protection is not None:
        if order["order_type"] not in ("MARKET", "SL-M"):
            raise _fail(
                "market_protection_order_type",
                f"market_protection is not allowed for {order['order_type']} orders",
            )
        if not _is_int(protection) or not (protection == -1 or 0 <= protection <= 100):
            raise _fail(
                "market_protection_range", f"market_protection must be -1 or 0..100, got {protection!r}"
            )


def _check_validity(order: dict[str, Any]) -> None:
    _enum(order, "validity", VALIDITIES)
    ttl = order.get("validity_ttl")
    if order["validity"] == "TTL":
        if ttl is None:
            raise _fail("validity_ttl_required", "validity_ttl is required when validity is TTL")
        if not _is_int(ttl) or not 1 <= ttl <= 365:
            raise _fail("validity_ttl_range", f"validity_ttl must be an integer in 1..365, got {ttl!r}")
    elif ttl is not None:
        raise _fail("validity_ttl_requires_ttl", f"validity_ttl is set but validity is {order['validity']}")
    autoslice = order.get("autoslice")
    if autoslice is not None and not isinstance(autoslice, bool):
        raise _fail("autoslice_bool", f"autoslice must be True or False, got {autoslice!r}")


def _check_variety(order: dict[str, Any]) -> None:
    variety = order["variety"]
    legs, slice_quantity = order.get("iceberg_legs"), order.get("iceberg_quantity")
    has_iceberg = legs is not None or slice_quantity is not None
    if variety == "amo" and has_iceberg:
        raise _fail("amo_iceberg_forbidden", "iceberg_legs/iceberg_quantity cannot be used with variety amo")
    if variety == "iceberg" and (legs is None or slice_quantity is None):
        raise _fail(
            "iceberg_requires_legs_and_quantity", "variety iceberg needs iceberg_legs and iceberg_quantity"
        )
    if has_iceberg and variety != "iceberg":
        raise _fail("iceberg_fields_require_iceberg_variety", f"iceberg fields set but variety is {variety}")
    if legs is not None and (not _is_int(legs) or not 2 <= legs <= 10):
        raise _fail("iceberg_legs_range", f"iceberg_legs must be an integer in 2..10, got {legs!r}")
    if slice_quantity is not None and (not _is_int(slice_quantity) or slice_quantity <= 0):
        raise _fail(
            "iceberg_quantity_positive",
            f"iceberg_quantity must be a positive integer, got {slice_quantity!r}",
        )

    co_set = [name for name in CO_FIELDS if order.get(name) is not None]
    if variety == "co" and (order.get("squareoff") is None or order.get("stoploss") is None):
        raise _fail("co_requires_squareoff_and_stoploss", "variety co needs squareoff and stoploss")
    if co_set and variety != "co":
        raise _fail("co_fields_require_co_variety", f"{', '.join(co_set)} set but variety is {variety}")
    for name in co_set:
        value = order[name]
        if not _is_number(value) or value <= 0:
            raise _fail("co_values_positive", f"{name} must be a number > 0, got {value!r}")

    number = order.get("auction_number")
    if variety == "auction" and number is None:
        raise _fail("auction_requires_auction_number", "variety auction needs auction_number")
    if number is not None:
        if variety != "auction":
            raise _fail(
                "auction_number_requires_auction_variety", f"auction_number set but variety is {variety}"
            )
        if _is_int(number) and number > 0:
            order["auction_number"] = str(number)  # the wire type is a string (contract §6.1)
        elif not (isinstance(number, str) and number.isdigit() and number.isascii()):
            raise _fail("auction_number_format", f"auction_number must be a string of digits, got {number!r}")


def validate_order(order: Mapping[str, Any]) -> dict[str, Any]:
    """Check every field rule and return the normalised payload (canonical key order, defaults in).

    Pure, never blocks. Raises :class:`OrderRuleError` naming the first rule that fails.
    """
    if not isinstance(order, Mapping):
        raise _fail("order_mapping", f"expected a mapping, got {type(order).__name__}")
    forbidden = sorted(FORBIDDEN_FIELDS.intersection(order))
    if forbidden:
        raise _fail("attribution_forbidden", f"{', '.join(forbidden)} must not be sent")
    unknown = sorted(set(order) - set(FIELDS), key=str)
    if unknown:
        raise _fail("unknown_field", f"unknown order field(s) {', '.join(map(repr, unknown))}")
    given = {"variety": "regular", "validity": "DAY"} | {k: v for k, v in order.items() if v is not None}
    out = {name: given[name] for name in FIELDS if name in given}
    for name in ("exchange", "tradingsymbol", "transaction_type", "product", "order_type", "quantity"):
        if name not in out:
            raise _fail("required_field", f"{name} is missing")
    _enum(out, "exchange", EXCHANGES)
    symbol = out["tradingsymbol"]
    if not isinstance(symbol, str) or not symbol.strip():
        raise _fail("tradingsymbol_nonempty", f"tradingsymbol must be a non-empty string, got {symbol!r}")
    _enum(out, "transaction_type", TRANSACTION_TYPES)
    _enum(out, "product", PRODUCTS)
    _enum(out, "variety", VARIETIES)
    _enum(out, "order_type", ORDER_TYPES)
    _check_quantities(out)
    _check_prices(out)
    _check_validity(out)
    _check_variety(out)
    metadata = out.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(isinstance(key, str) for key in metadata):
            raise _fail(
                "metadata_mapping",
                f"metadata must be an object with string keys, got {type(metadata).__name__}",
            )
        out["metadata"] = dict(metadata)
    return out
