"""Order builders: the seed's helper functions and a fluent, immutable :class:`OrderBuilder`.

Every builder returns a plain ``dict`` already checked by :func:`validate_order` (see
``_order_rules``), so an invalid order is refused before any request with an
:class:`~supervisor.client._errors.OrderRuleError` naming the rule. Unknown keyword arguments,
``tag`` included, are refused by rule as well. Pure functions: nothing here blocks or does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, Unpack

from ._order_rules import CO_FIELDS, ICEBERG_FIELDS, validate_order

__all__ = [
    "OrderBuilder",
    "OrderOptions",
    "amo_limit_order",
    "amo_market_order",
    "equity_market_order",
    "limit_order",
    "market_order",
    "option_market_order",
    "sl_m_order",
    "sl_order",
    "validate_order",
]


class OrderOptions(TypedDict, total=False):
    """Optional fields every builder accepts (``None`` means "leave out")."""

    disclosed_quantity: int | None
    market_protection: int | None
    validity: str | None
    validity_ttl: int | None
    autoslice: bool | None
    iceberg_legs: int | None
    iceberg_quantity: int | None
    auction_number: str | int | None
    squareoff: float | None
    stoploss: float | None
    trailing_stoploss: float | None


def _typed(
    order_type: str,
    head: tuple[str, str, str, str, int],
    variety: str,
    options: Mapping[str, Any],
    **prices: float,
) -> dict[str, Any]:
    # Unknown keywords reach validate_order, which refuses them by rule (tag -> attribution_forbidden).
    exchange, tradingsymbol, transaction_type, product, quantity = head
    order = {
        "exchange": exchange,
        "tradingsymbol": tradingsymbol,
        "transaction_type": transaction_type,
        "product": product,
        "quantity": quantity,
        "order_type": order_type,
        "variety": variety,
    }
    return validate_order({**order, **prices, **options})


def market_order(  # noqa: PLR0917 (the seed's positional signature)
    exchange: str,
    tradingsymbol: str,
    transaction_type: str,
    product: str,
    quantity: int,
    variety: str = "regular",
    **options: Unpack[OrderOptions],
) -> dict[str, Any]:
    """A validated MARKET order. Pure; raises :class:`OrderRuleError`."""
    return _typed("MARKET", (exchange, tradingsymbol, transaction_type, product, quantity), variety, options)


def limit_order(  # noqa: PLR0917 (the seed's positional signature)
    exchange: str,
    tradingsymbol: str,
    transaction_type: str,
    product: str,
    quantity: int,
    price: float,
    variety: str = "regular",
    **options: Unpack[OrderOptions],
) -> dict[str, Any]:
    """A validated LIMIT order (``price`` > 0). Pure; raises :class:`OrderRuleError`."""
    head = (exchange, tradingsymbol, transaction_type, product, quantity)
    return _typed("LIMIT", head, variety, options, price=price)


def sl_order(  # noqa: PLR0917 (the seed's positional signature)
    exchange: str,
    tradingsymbol: str,
    transaction_type: str,
    product: str,
    quantity: int,
    price: float,
    trigger_price: float,
    variety: str = "regular",
    **options: Unpack[OrderOptions],
) -> dict[str, Any]:
    """A validated stop-loss limit (SL) order. Pure; raises :class:`OrderRuleError`."""
    head = (exchange, tradingsymbol, transaction_type, product, quantity)
    return _typed("SL", head, variety, options, price=price, trigger_price=trigger_price)


def sl_m_order(  # noqa: PLR0917 (the seed's positional signature)
    exchange: str,
    tradingsymbol: str,
    transaction_type: str,
    product: str,
    quantity: int,
    trigger_price: float,
    variety: str = "regular",
    **options: Unpack[OrderOptions],
) -> dict[str, Any]:
    """A validated stop-loss market (SL-M) order. Pure; raises :class:`OrderRuleError`."""
    head = (exchange, tradingsymbol, transaction_type, product, quantity)
    return _typed("SL-M", head, variety, options, trigger_price=trigger_price)


def equity_market_order(
    tradingsymbol: str,
    transaction_type: str,
    quantity: int,
    *,
    product: str = "CNC",
    exchange: str = "NSE",
    variety: str = "regular",
    **options: Unpack[OrderOptions],
) -> dict[str, Any]:
    """A MARKET order on NSE, CNC unless told otherwise. Pure; raises :class:`OrderRuleError`."""
    return market_order(exchange, tradingsymbol, transaction_type, product, quantity, variety, **options)


def option_market_order(
    tradingsymbol: str,
    transaction_type: str,
    quantity: int,
    *,
    product: str = "NRML",
    exchange: str = "NFO",
    variety: str = "regular",
    **options: Unpack[OrderOptions],
) -> dict[str, Any]:
    """A MARKET order on NFO, NRML unless told otherwise. Pure; raises :class:`OrderRuleError`."""
    return market_order(exchange, tradingsymbol, transaction_type, product, quantity, variety, **options)


def amo_limit_order(  # noqa: PLR0917 (the seed's positional signature)
    exchange: str,
    tradingsymbol: str,
    transaction_type: str,
    product: str,
    quantity: int,
    price: float,
    **options: Unpack[OrderOptions],
) -> dict[str, Any]:
    """A LIMIT after-market order (variety ``amo``). Pure; raises :class:`OrderRuleError`."""
    return limit_order(exchange, tradingsymbol, transaction_type, product, quantity, price, "amo", **options)


def amo_market_order(
    exchange: str,
    tradingsymbol: str,
    transaction_type: str,
    product: str,
    quantity: int,
    **options: Unpack[OrderOptions],
) -> dict[str, Any]:
    """A MARKET after-market order (variety ``amo``). Pure; raises :class:`OrderRuleError`."""
    return market_order(exchange, tradingsymbol, transaction_type, product, quantity, "amo", **options)


class OrderBuilder:
    """Fluent, immutable order assembly; every step returns a new builder, ``build()`` validates::

        OrderBuilder("NSE", "INFY", "BUY", "CNC", 1).market().regular().build()
        OrderBuilder("NSE", "INFY", "SELL", "MIS", 10).sl(1440.0, 1445.0).co(squareoff=20, stoploss=5).build()

    The seed's builder functions are also reachable as static methods (``OrderBuilder.market_order``),
    as in the official SDK. Nothing blocks; ``build()`` raises :class:`OrderRuleError`.
    """

    __slots__ = ("_fields",)

    market_order = staticmethod(market_order)
    limit_order = staticmethod(limit_order)
    sl_order = staticmethod(sl_order)
    sl_m_order = staticmethod(sl_m_order)
    equity_market_order = staticmethod(equity_market_order)
    option_market_order = staticmethod(option_market_order)
    amo_limit_order = staticmethod(amo_limit_order)
    amo_market_order = staticmethod(amo_market_order)

    def __init__(
        self, exchange: str, tradingsymbol: str, transaction_type: str, product: str, quantity: int
    ) -> None:
        self._fields: dict[str, Any] = {
            "exchange": exchange,
            "tradingsymbol": tradingsymbol,
            "transaction_type": transaction_type,
            "product": product,
            "quantity": quantity,
        }

    def _with(self, drop: tuple[str, ...] = (), **fields: Any) -> OrderBuilder:
        new = object.__new__(OrderBuilder)
        new._fields = {k: v for k, v in self._fields.items() if k not in drop} | fields
        return new

    def __repr__(self) -> str:
        return f"OrderBuilder({self._fields!r})"

    # order type: each replaces the previous type and its prices
    def market(self) -> OrderBuilder:
        return self._with(("price", "trigger_price"), order_type="MARKET")

    def limit(self, price: float) -> OrderBuilder:
        return self._with(("trigger_price",), order_type="LIMIT", price=price)

    def sl(self, price: float, trigger_price: float) -> OrderBuilder:
        return self._with(order_type="SL", price=price, trigger_price=trigger_price)

    def sl_m(self, trigger_price: float) -> OrderBuilder:
        return self._with(("price",), order_type="SL-M", trigger_price=trigger_price)

    # variety: each replaces the previous variety and its fields
    def _variety(self, variety: str, **fields: Any) -> OrderBuilder:
        drop = (*ICEBERG_FIELDS, *CO_FIELDS, "auction_number")
        return self._with(drop, variety=variety, **{k: v for k, v in fields.items() if v is not None})

    def regular(self) -> OrderBuilder:
        return self._variety("regular")

    def amo(self) -> OrderBuilder:
        return self._variety("amo")

    def co(
        self, *, squareoff: float, stoploss: float, trailing_stoploss: float | None = None
    ) -> OrderBuilder:
        return self._variety(
            "co", squareoff=squareoff, stoploss=stoploss, trailing_stoploss=trailing_stoploss
        )

    def iceberg(self, legs: int, quantity: int) -> OrderBuilder:
        return self._variety("iceberg", iceberg_legs=legs, iceberg_quantity=quantity)

    def auction(self, number: str | int) -> OrderBuilder:
        return self._variety("auction", auction_number=number)

    # validity and the optional fields
    def validity(self, validity: str, ttl: int | None = None) -> OrderBuilder:
        return self._with(
            ("validity_ttl",), validity=validity, **({} if ttl is None else {"validity_ttl": ttl})
        )

    def day(self) -> OrderBuilder:
        return self.validity("DAY")

    def ioc(self) -> OrderBuilder:
        return self.validity("IOC")

    def ttl(self, minutes: int) -> OrderBuilder:
        return self.validity("TTL", minutes)

    def disclosed(self, quantity: int) -> OrderBuilder:
        return self._with(disclosed_quantity=quantity)

    def market_protection(self, value: int) -> OrderBuilder:
        return self._with(market_protection=value)

    def autoslice(self, enabled: bool = True) -> OrderBuilder:
        return self._with(autoslice=enabled)

    def build(self) -> dict[str, Any]:
        """Validate and return the payload; a missing order type fails as ``required_field``."""
        return validate_order(self._fields)
