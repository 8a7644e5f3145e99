"""Market data (contract §4.13) and GTT (§4.14) calls of the async client.

A mixin over the shared pipeline (``self._pipeline``), split from ``_async_client`` along the
endpoint-family seam. Every call blocks on one request and raises the ``_errors`` tree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ._endpoints import ENDPOINTS
from ._errors import ClientValidationError
from ._intervals import check_interval
from ._models import Doc, GttPlaced, GttSnapshot, to_struct
from ._pipeline import Pipeline

__all__ = ["MarketDataEndpoints", "instrument_param", "key_quotes", "split_instruments"]

E = ENDPOINTS


def split_instruments(instruments: Sequence[str | int]) -> tuple[list[str], list[int]]:
    symbols: list[str] = []
    tokens: list[int] = []
    for item in instruments:
        if isinstance(item, int) or str(item).isdigit():
            tokens.append(int(item))
        else:
            symbols.append(str(item))
    return symbols, tokens


def instrument_param(instrument: str | int) -> dict[str, Any]:
    if isinstance(instrument, int) or str(instrument).isdigit():
        return {"instrument_token": int(instrument)}
    return {"symbol": instrument}


def key_quotes(result: Any, instruments: Sequence[str | int]) -> Any:
    """Turn a list of quotes into a dict keyed by the requested identifiers (as strings).

    A quote is matched to a request by its ``instrument_token`` (numeric requests) or its
    ``symbol``; a quote nobody asked for under that name stays reachable by its symbol. Each
    quote appears once per requested identifier, so iterating the dict never repeats one. A
    response that already holds a dict is returned unchanged. Pure.
    """
    quotes = result.get("quotes") if isinstance(result, Mapping) else None
    if not isinstance(quotes, list):
        return result
    by_token = {str(q.get("instrument_token")): q for q in quotes if isinstance(q, Mapping)}
    by_symbol = {str(q.get("symbol")): q for q in quotes if isinstance(q, Mapping)}
    keyed = Doc()
    for item in instruments:
        name = str(item)
        quote = by_token.get(name) if name.isdigit() else by_symbol.get(name)
        if quote is not None:
            keyed[name] = quote
    placed = {id(q) for q in keyed.values()}
    for symbol, quote in by_symbol.items():
        if id(quote) not in placed:
            keyed[symbol] = quote
    result["quotes"] = keyed
    return result


class MarketDataEndpoints:
    """Market-data and GTT methods; the host class provides ``_pipeline`` and ``_wall_clock``."""

    _pipeline: Pipeline
    _wall_clock: Callable[[], float]

    # -- market data (§4.13) -----------------------------------------------------------------
    async def resolve_ticker(self, symbol: str) -> Any:
        return await self._pipeline.call(E["resolve_ticker"], params={"symbol": symbol})

    async def search_tickers(self, query: str, *, exchange: str | None = None, limit: int = 20) -> Any:
        return await self._pipeline.call(
            E["search_tickers"], params={"query": query, "exchange": exchange, "limit": limit}
        )

    async def get_quotes(self, instruments: Sequence[str | int], *, mode: str = "quote") -> Any:
        """``{"quotes": {identifier: quote}, "missing": [...]}`` keyed as requested, so
        ``quotes["quotes"]["NSE:INFY"]`` works whether the server sent the documented dict or
        the reference server's list (contract §11 item 6)."""
        symbols, tokens = split_instruments(instruments)
        body = {"symbols": symbols, "instrument_tokens": tokens, "mode": mode}
        return key_quotes(await self._pipeline.call(E["get_quotes"], body=body), instruments)

    async def resolve_tickers(self, instruments: Sequence[str | int]) -> Any:
        """Resolve many symbols/tokens at once: ``{"instruments": [...], "missing": [...]}``."""
        symbols, tokens = split_instruments(instruments)
        body = {"symbols": symbols, "instrument_tokens": tokens}
        return await self._pipeline.call(E["resolve_tickers"], body=body)

    async def get_market_snapshot(
        self,
        symbols: Sequence[str] | None = None,
        instrument_tokens: Sequence[int] | None = None,
        candles: Sequence[Mapping[str, Any]] | None = None,
        mode: str = "quote",
    ) -> Any:
        """Quotes plus candle windows in one request (``candles`` items name ``symbol`` or
        ``instrument_token``, ``interval`` and ``lookback``); quotes keyed as in ``get_quotes``."""
        body = {
            "symbols": list(symbols or []),
            "instrument_tokens": list(instrument_tokens or []),
            "candles": [dict(c) for c in candles or []],
            "mode": mode,
        }
        result = await self._pipeline.call(E["get_market_snapshot"], body=body)
        return key_quotes(result, [*(symbols or []), *(instrument_tokens or [])])

    async def get_candles(
        self, instrument: str | int, *, interval: str = "5minute", lookback: int = 50
    ) -> Any:
        """Recent candles; ``ClientValidationError`` for an unknown ``interval``, before any request."""
        check_interval(interval)
        params = {**instrument_param(instrument), "interval": interval, "lookback": lookback}
        return await self._pipeline.call(E["get_candles"], params=params)

    async def get_historical_candles(
        self,
        instrument: str | int,
        *,
        timeframe: str = "day",
        from_date: str | datetime | None = None,
        to_date: str | datetime | None = None,
        lookback_days: int | None = None,
        ingest: bool | None = None,
        passthrough: bool | None = None,
    ) -> Any:
        """``lookback_days`` computes from/to client-side (exclusive with ``from_date``). An unknown
        ``timeframe`` raises ``ClientValidationError`` before any request."""
        check_interval(timeframe, rule="timeframe")
        if lookback_days is not None:
            if from_date is not None:
                raise ClientValidationError("lookback_days and from_date are exclusive", rule="lookback_days")
            if lookback_days <= 0:
                raise ClientValidationError("lookback_days must be positive", rule="lookback_days")
            end = (
                to_date
                if isinstance(to_date, datetime)
                else (
                    datetime.fromisoformat(to_date)
                    if to_date
                    else datetime.fromtimestamp(self._wall_clock(), UTC)
                )
            )
            if end.tzinfo is None:
                raise ClientValidationError("to_date must be timezone-aware", rule="lookback_days")
            from_date, to_date = end - timedelta(days=lookback_days), end
        params = {
            **instrument_param(instrument),
            "timeframe": timeframe,
            "from": from_date.isoformat() if isinstance(from_date, datetime) else from_date,
            "to": to_date.isoformat() if isinstance(to_date, datetime) else to_date,
            "ingest": ingest,
            "passthrough": passthrough,
        }
        return await self._pipeline.call(E["get_historical_candles"], params=params)

    # -- GTT (§4.14) -------------------------------------------------------------------------
    async def place_gtt(self, trigger: Mapping[str, Any]) -> Any:
        return await self._pipeline.call(E["place_gtt"], body=dict(trigger))

    async def place_gtt_snapshot(self, trigger: Mapping[str, Any]) -> GttPlaced:
        return to_struct(await self.place_gtt(trigger), GttPlaced)

    async def list_gtts(self) -> Any:
        return await self._pipeline.call(E["list_gtts"])

    async def list_gtts_snapshot(self) -> list[GttSnapshot]:
        return to_struct(await self.list_gtts(), list[GttSnapshot])

    async def get_gtt(self, trigger_id: int | str) -> Any:
        return await self._pipeline.call(E["get_gtt"], {"trigger_id": int(trigger_id)})

    async def get_gtt_snapshot(self, trigger_id: int | str) -> GttSnapshot:
        return to_struct(await self.get_gtt(trigger_id), GttSnapshot)

    async def modify_gtt(self, trigger_id: int | str, trigger: Mapping[str, Any]) -> Any:
        return await self._pipeline.call(E["modify_gtt"], {"trigger_id": int(trigger_id)}, body=dict(trigger))

    async def modify_gtt_snapshot(self, trigger_id: int | str, trigger: Mapping[str, Any]) -> GttPlaced:
        return to_struct(await self.modify_gtt(trigger_id, trigger), GttPlaced)

    async def delete_gtt(self, trigger_id: int | str) -> Any:
        return await self._pipeline.call(E["delete_gtt"], {"trigger_id": int(trigger_id)})

    async def delete_gtt_snapshot(self, trigger_id: int | str) -> GttPlaced:
        return to_struct(await self.delete_gtt(trigger_id), GttPlaced)
