"""Backend protection objects (contract §4.11, ``runtime_state.backend_protection``).

The backend watches a run's exposure and exits it when a protection rule fires; these classes
describe those rules. One set of checks serves both sides: the models call it at construction,
and :func:`validate_protection_dict` runs it on a raw payload (the sandbox validates create and
PATCH bodies with it, answering 422 with the error text). Rules, each a ``rule`` id of
:class:`~supervisor.client._errors.ProtectionRuleError`:

* top level: ``enabled`` bool; ``mode`` only ``exposure``; ``version`` int >= 1; when enabled,
  at least one rule (a position, a basket rule, ``exit_on_worker_stale`` or
  ``mis_squareoff_buffer_sec``); unknown keys are refused at every level;
* position: ``product`` CNC/MIS/NRML and ``side`` BUY/SELL (upper-cased); ``quantity`` and
  ``entry_price`` > 0; identity by ``instrument_token``, ``symbol`` or ``exchange`` +
  ``tradingsymbol``; at least one of ``stoploss_pct``/``target_pct``/``trailing_stoploss_pct``;
* basket: one of ``stoploss_pct``/``target_pct``/``trailing_drawdown_pct``; trailing drawdown
  needs ``trailing_activate_pct``; every percentage (position or basket) in (0, 1000];
* operations: ``worker_stale_sec`` 30..86400, required when ``exit_on_worker_stale``;
  ``mis_squareoff_buffer_sec`` 0..3600.

Pure; nothing here blocks or performs I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ProtectionRuleError

__all__ = [
    "BackendProtection",
    "BasketProtection",
    "OperationalProtection",
    "ProtectedPosition",
    "validate_protection_dict",
]

PRODUCTS = frozenset({"CNC", "MIS", "NRML"})
SIDES = frozenset({"BUY", "SELL"})
PCT_MAX = 1000.0
POSITION_FIELDS = (
    "product",
    "side",
    "quantity",
    "entry_price",
    "symbol",
    "instrument_token",
    "exchange",
    "tradingsymbol",
    "stoploss_pct",
    "target_pct",
    "trailing_stoploss_pct",
)
POSITION_PCTS = ("stoploss_pct", "target_pct", "trailing_stoploss_pct")
BASKET_FIELDS = ("stoploss_pct", "target_pct", "trailing_activate_pct", "trailing_drawdown_pct")
OPERATIONS_FIELDS = ("exit_on_worker_stale", "worker_stale_sec", "mis_squareoff_buffer_sec")
TOP_FIELDS = ("enabled", "mode", "version", "positions", "basket", "operations")


def _fail(rule: str, path: str, detail: str) -> ProtectionRuleError:
    return ProtectionRuleError(f"invalid backend_protection: {path} {detail} [rule {rule}]", rule=rule)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mapping(value: Any, path: str, allowed: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail("section_type", path, f"must be an object, got {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise _fail("unknown_field", path, f"has unknown field(s) {', '.join(unknown)}")
    # nulls are dropped, as the backend stores the object with nulls removed
    return {name: value[name] for name in allowed if value.get(name) is not None}


def _positive_int(data: dict[str, Any], name: str, path: str, rule: str) -> None:
    value = data[name]
    if not _is_int(value) or value <= 0:
        raise _fail(rule, f"{path}.{name}", f"must be a positive integer, got {value!r}")


def _pct(data: dict[str, Any], names: Sequence[str], path: str) -> None:
    for name in names:
        if name in data:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= PCT_MAX:
                raise _fail("pct_range", f"{path}.{name}", f"must be a number in (0, 1000], got {value!r}")
            data[name] = float(value)


def _upper(data: dict[str, Any], name: str, path: str, rule: str) -> None:
    if name in data:
        value = data[name]
        if not isinstance(value, str):
            raise _fail(rule, f"{path}.{name}", f"must be a string, got {value!r}")
        data[name] = value.strip().upper()


def _check_position(raw: Any, path: str) -> dict[str, Any]:
    data = _mapping(raw, path, POSITION_FIELDS)
    for name in ("product", "side", "quantity", "entry_price"):
        if name not in data:
            raise _fail("position_required_field", f"{path}.{name}", "is required")
    _upper(data, "product", path, "position_product_enum")
    if data["product"] not in PRODUCTS:
        raise _fail(
            "position_product_enum", f"{path}.product", f"must be CNC, MIS or NRML, got {raw['product']!r}"
        )
    _upper(data, "side", path, "position_side_enum")
    if data["side"] not in SIDES:
        raise _fail("position_side_enum", f"{path}.side", f"must be BUY or SELL, got {raw['side']!r}")
    _positive_int(data, "quantity", path, "position_quantity_positive")
    price = data["entry_price"]
    if (
        isinstance(price, bool)
        or not isinstance(price, int | float)
        or not (math.isfinite(price) and price > 0)
    ):
        raise _fail(
            "position_entry_price_positive", f"{path}.entry_price", f"must be a number > 0, got {price!r}"
        )
    data["entry_price"] = float(price)
    for name in ("symbol", "exchange", "tradingsymbol"):
        _upper(data, name, path, "position_identity")
        if data.get(name) == "":
            del data[name]
    if "symbol" in data:
        data["symbol"] = data["symbol"].replace(" ", "")
    if "instrument_token" in data:
        _positive_int(data, "instrument_token", path, "position_identity")
    if not (
        "instrument_token" in data or "symbol" in data or ("exchange" in data and "tradingsymbol" in data)
    ):
        raise _fail(
            "position_identity", path, "needs instrument_token, symbol, or exchange and tradingsymbol"
        )
    _pct(data, POSITION_PCTS, path)
    if not any(name in data for name in POSITION_PCTS):
        raise _fail("position_requires_rule", path, "needs stoploss_pct, target_pct or trailing_stoploss_pct")
    return data


def _check_basket(raw: Any, path: str) -> dict[str, Any]:
    data = _mapping(raw, path, BASKET_FIELDS)
    _pct(data, BASKET_FIELDS, path)
    if not any(name in data for name in ("stoploss_pct", "target_pct", "trailing_drawdown_pct")):
        raise _fail("basket_requires_rule", path, "needs stoploss_pct, target_pct or trailing_drawdown_pct")
    if "trailing_drawdown_pct" in data and "trailing_activate_pct" not in data:
        raise _fail(
            "basket_trailing_requires_activate", path, "trailing_drawdown_pct needs trailing_activate_pct"
        )
    return data


def _check_operations(raw: Any, path: str) -> dict[str, Any]:
    data = {"exit_on_worker_stale": False} | _mapping(raw, path, OPERATIONS_FIELDS)
    if not isinstance(data["exit_on_worker_stale"], bool):
        raise _fail("operations_bool", f"{path}.exit_on_worker_stale", "must be true or false")
    stale = data.get("worker_stale_sec")
    if stale is None and data["exit_on_worker_stale"]:
        raise _fail(
            "worker_stale_sec_required", f"{path}.worker_stale_sec", "is required with exit_on_worker_stale"
        )
    if stale is not None and (not _is_int(stale) or not 30 <= stale <= 86400):
        raise _fail(
            "worker_stale_sec_range", f"{path}.worker_stale_sec", f"must be in 30..86400, got {stale!r}"
        )
    buffer = data.get("mis_squareoff_buffer_sec")
    if buffer is not None and (not _is_int(buffer) or not 0 <= buffer <= 3600):
        raise _fail(
            "mis_squareoff_buffer_sec_range",
            f"{path}.mis_squareoff_buffer_sec",
            f"must be in 0..3600, got {buffer!r}",
        )
    return data


def validate_protection_dict(payload: Mapping[str, Any], path: str = "backend_protection") -> dict[str, Any]:
    """Validate a raw protection object and return it as the backend stores it.

    The result has ``enabled`` (default false, as on the server), ``mode``, ``version``,
    ``positions`` (possibly empty), ``basket`` when given, and ``operations`` (always, at least
    ``{"exit_on_worker_stale": false}``), with nulls removed. Pure; raises
    :class:`ProtectionRuleError` whose message carries the field path and the rule.
    """
    data = _mapping(payload, path, TOP_FIELDS)
    enabled = data.get("enabled", False)
    if not isinstance(enabled, bool):
        raise _fail("enabled_bool", f"{path}.enabled", f"must be true or false, got {enabled!r}")
    mode = data.get("mode", "exposure")
    if mode != "exposure":
        raise _fail("mode_exposure", f"{path}.mode", f"must be 'exposure', got {mode!r}")
    version = data.get("version", 1)
    if not _is_int(version) or version < 1:
        raise _fail("version_min", f"{path}.version", f"must be an integer >= 1, got {version!r}")
    positions = data.get("positions", [])
    if isinstance(positions, str | bytes | Mapping) or not isinstance(positions, Sequence):
        raise _fail("section_type", f"{path}.positions", "must be a list")
    out: dict[str, Any] = {
        "enabled": enabled,
        "mode": mode,
        "version": version,
        "positions": [_check_position(p, f"{path}.positions[{i}]") for i, p in enumerate(positions)],
    }
    if "basket" in data:
        out["basket"] = _check_basket(data["basket"], f"{path}.basket")
    out["operations"] = _check_operations(data.get("operations", {}), f"{path}.operations")
    operations = out["operations"]
    has_rule = (
        bool(out["positions"])
        or "basket" in out
        or operations["exit_on_worker_stale"]
        or "mis_squareoff_buffer_sec" in operations
    )
    if enabled and not has_rule:
        raise _fail(
            "enabled_requires_rule",
            path,
            "is enabled but has no rule "
            "(a position, a basket rule, exit_on_worker_stale or mis_squareoff_buffer_sec)",
        )
    return out


def _fields(obj: Any, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def _store(obj: Any, checked: Mapping[str, Any], names: Sequence[str]) -> None:
    # frozen dataclass: write the normalised values back once, at construction
    for name in names:
        object.__setattr__(obj, name, checked.get(name))


@dataclass(frozen=True)
class ProtectedPosition:
    """One protected position; validated and normalised at construction (raises ProtectionRuleError)."""

    product: str
    side: str
    quantity: int
    entry_price: float
    symbol: str | None = None
    instrument_token: int | None = None
    exchange: str | None = None
    tradingsymbol: str | None = None
    stoploss_pct: float | None = None
    target_pct: float | None = None
    trailing_stoploss_pct: float | None = None

    def __post_init__(self) -> None:
        _store(self, _check_position(_fields(self, POSITION_FIELDS), "position"), POSITION_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        """The wire form, nulls removed."""
        return {k: v for k, v in _fields(self, POSITION_FIELDS).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProtectedPosition:
        return cls(**_check_position(data, "position"))


@dataclass(frozen=True)
class BasketProtection:
    """Run-level (basket) P&L rules in percent; validated at construction."""

    stoploss_pct: float | None = None
    target_pct: float | None = None
    trailing_activate_pct: float | None = None
    trailing_drawdown_pct: float | None = None

    def __post_init__(self) -> None:
        _store(self, _check_basket(_fields(self, BASKET_FIELDS), "basket"), BASKET_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in _fields(self, BASKET_FIELDS).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BasketProtection:
        return cls(**_check_basket(data, "basket"))


@dataclass(frozen=True)
class OperationalProtection:
    """Exit on a stale worker and/or square off MIS ahead of the broker; validated at construction."""

    exit_on_worker_stale: bool = False
    worker_stale_sec: int | None = None
    mis_squareoff_buffer_sec: int | None = None

    def __post_init__(self) -> None:
        _store(self, _check_operations(_fields(self, OPERATIONS_FIELDS), "operations"), OPERATIONS_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in _fields(self, OPERATIONS_FIELDS).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperationalProtection:
        return cls(**_check_operations(data, "operations"))


@dataclass(frozen=True)
class BackendProtection:
    """The whole protection object sent with ``create_run``/``update_backend_protection``.

    ``positions`` may hold :class:`ProtectedPosition` objects or plain dicts (validated the same
    way); it is stored as a tuple. Raises :class:`ProtectionRuleError` at construction.
    """

    positions: Sequence[ProtectedPosition] = field(default_factory=tuple)
    basket: BasketProtection | None = None
    operations: OperationalProtection | None = None
    enabled: bool = True
    mode: str = "exposure"
    version: int = 1

    def __post_init__(self) -> None:
        positions = tuple(
            p if isinstance(p, ProtectedPosition) else ProtectedPosition.from_dict(p) for p in self.positions
        )
        object.__setattr__(self, "positions", positions)
        # dicts are accepted for the sections too, as the SDK's users sometimes pass them
        if isinstance(self.basket, Mapping):
            object.__setattr__(self, "basket", BasketProtection.from_dict(self.basket))
        if isinstance(self.operations, Mapping):
            object.__setattr__(self, "operations", OperationalProtection.from_dict(self.operations))
        validate_protection_dict(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """``enabled``, ``mode``, ``version`` and the non-empty sections, ready for the wire."""
        out: dict[str, Any] = {"enabled": self.enabled, "mode": self.mode, "version": self.version}
        if self.positions:
            out["positions"] = [p.to_dict() for p in self.positions]
        if self.basket is not None:
            out["basket"] = self.basket.to_dict()
        if self.operations is not None:
            out["operations"] = self.operations.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackendProtection:
        """Build from a wire/stored dict (validated first; unknown keys are refused)."""
        checked = validate_protection_dict(data)
        return cls(
            positions=tuple(ProtectedPosition(**p) for p in checked["positions"]),
            basket=BasketProtection(**checked["basket"]) if "basket" in checked else None,
            operations=OperationalProtection(**checked["operations"]) if "operations" in data else None,
            enabled=checked["enabled"],
            mode=checked["mode"],
            version=checked["version"],
        )
