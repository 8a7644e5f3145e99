"""Routing the ticks of one union tick stream back to the instruments that asked for them.

A union stream carries every instrument of one mode (``symbols=a,b,c``). Ticks name their
instrument by token, ``EXCHANGE:TRADINGSYMBOL`` symbol and trading symbol, while subscribers
named it by whichever of those they had (``"NSE:INFY"``, ``408065``, ``"408065"``).
:class:`TickRouter` matches them case-insensitively and remembers the answer per token, so a
tick costs one dict lookup after the first. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["Instrument", "TickRouter", "identifier_key"]

Instrument = str | int


def identifier_key(instrument: Instrument) -> str:
    """The form two spellings of one identifier share: ``" nse:infy"`` and ``"NSE:INFY"``."""
    return str(instrument).strip().upper()


def _names(row: Mapping[str, Any]) -> Iterable[str]:
    token = row.get("instrument_token")
    if token is not None:
        yield str(token)
    tradingsymbol = row.get("tradingsymbol")
    for value in (row.get("symbol"), tradingsymbol):
        if value:
            yield str(value).upper()
    if tradingsymbol and row.get("exchange"):
        yield f"{row['exchange']}:{tradingsymbol}".upper()


class TickRouter:
    """The requested instruments of one union stream, and which of them a tick belongs to."""

    def __init__(self, instruments: Sequence[Instrument]) -> None:
        self.instruments = tuple(instruments)
        self._index: dict[str, list[Instrument]] = {}
        for instrument in self.instruments:
            self._index.setdefault(identifier_key(instrument), []).append(instrument)
        self._by_token: dict[Any, tuple[Instrument, ...]] = {}

    def route(self, row: Mapping[str, Any]) -> tuple[Instrument, ...]:
        """The requested instruments ``row`` (a quote object) is a tick of; () if none."""
        token = row.get("instrument_token")
        if token is not None:
            known = self._by_token.get(token)
            if known is not None:
                return known
        found = tuple(dict.fromkeys(i for name in _names(row) for i in self._index.get(name, ())))
        if token is not None:
            self._by_token[token] = found
        return found

    def missing(self, snapshot: Mapping[str, Any]) -> tuple[Instrument, ...]:
        """The requested instruments the snapshot's ``missing`` list names (unknown upstream)."""
        named = {identifier_key(m) for m in snapshot.get("missing") or ()}
        return tuple(i for i in self.instruments if identifier_key(i) in named)
