"""Candle intervals: the names the backend accepts (contract §4.13), checked before the network.

The canonical names are :data:`CANDLE_INTERVALS` (typed as :data:`CandleInterval`); the backend
also accepts the aliases of :data:`INTERVAL_ALIASES`, case-insensitively. Anything else (``1min``,
``5mins``, ``1H``) is refused by :func:`check_interval` with a ``ClientValidationError`` naming the
valid spellings, instead of a 400 ``Invalid timeframe`` from the server at run time. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

from ._errors import ClientValidationError

__all__ = ["CANDLE_INTERVALS", "INTERVAL_ALIASES", "CandleInterval", "CandleIntervalAlias", "check_interval"]

CandleInterval = Literal[
    "minute", "3minute", "5minute", "10minute", "15minute", "30minute", "60minute", "day"
]
CandleIntervalAlias = Literal["1m", "min", "3m", "5m", "10m", "15m", "30m", "60m", "1h", "1d"]

CANDLE_INTERVALS: Final[tuple[CandleInterval, ...]] = get_args(CandleInterval)

# contract §4.13 "Timeframe aliases" (case-insensitive)
INTERVAL_ALIASES: Final[Mapping[CandleIntervalAlias, CandleInterval]] = {
    "1m": "minute",
    "min": "minute",
    "3m": "3minute",
    "5m": "5minute",
    "10m": "10minute",
    "15m": "15minute",
    "30m": "30minute",
    "60m": "60minute",
    "1h": "60minute",
    "1d": "day",
}


def check_interval(interval: str, *, rule: str = "interval") -> CandleInterval:
    """The canonical name of ``interval`` (a canonical name or an alias, any case).

    Never blocks. Raises ``ClientValidationError`` (``rule`` names the argument) for anything
    else, listing the valid names and aliases.
    """
    value = str(interval).strip().lower()
    for alias, name in INTERVAL_ALIASES.items():
        if value == alias:
            return name
    for name in CANDLE_INTERVALS:
        if value == name:
            return name
    raise ClientValidationError(
        f"invalid candle interval {interval!r}: use one of {', '.join(CANDLE_INTERVALS)} "
        f"(aliases {', '.join(INTERVAL_ALIASES)})",
        rule=rule,
    )
