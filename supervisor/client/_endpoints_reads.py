"""The SDK 0.13 read surfaces outside the strategy loop (contract §3 closing note, §10): account
portfolio, market calendar and its status, index constituents and their status, fundamentals
(features, statements, status, CSV export, sync) and server-side indicators.

A mixin over the shared pipeline (``self._pipeline``), like :mod:`._endpoints_market`. Each call
blocks on one request and raises the ``_errors`` tree: ``ClientValidationError`` for arguments
the SDK refuses client-side (before any request), ``TransportError`` when nothing answered, an
``APIError`` subclass for non-2xx (``ServerError`` for the 503 ``CALENDAR_UNAVAILABLE`` /
``PORTFOLIO_SNAPSHOT_UNAVAILABLE`` / ``CALENDAR_RANGE_UNCOVERED`` answers, ``ConflictError`` for
a fundamentals sync refused while another runs).

Query lists: the pipeline sends a list as one comma-separated value. The reference server reads
``symbols`` as a repeated query key, so a multi-symbol scope reaches it as one item; a single
symbol is the same either way (see the note in ``docs/wire-api.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from ._endpoints import ENDPOINTS
from ._errors import ClientValidationError
from ._models import to_struct
from ._models_reads import (
    AccountPortfolio,
    FundamentalFeatures,
    FundamentalsStatements,
    FundamentalsStatus,
    FundamentalsSyncRun,
    IndexConstituents,
    IndexConstituentStatus,
    MarketCalendar,
    MarketCalendarStatus,
)
from ._pipeline import Pipeline

__all__ = ["ReadSurfaceEndpoints", "calendar_params", "fundamentals_scope"]

E = ENDPOINTS


def _required(value: Any, name: str) -> str:
    text = str(value if value is not None else "").strip()
    if not text:
        raise ClientValidationError(f"{name} is required", rule=name)
    return text


def fundamentals_scope(symbols: Iterable[str] | None, index: str | None) -> dict[str, Any]:
    """Exactly one of ``symbols`` (upper-cased, blanks dropped) or ``index``. Pure; raises
    ``ClientValidationError``."""
    wanted = [str(s).strip().upper() for s in symbols or () if str(s).strip()]
    if bool(symbols) == bool(index):
        raise ClientValidationError("give exactly one of symbols or index", rule="fundamentals.scope")
    if symbols is not None and not wanted:
        raise ClientValidationError("symbols must not be empty", rule="fundamentals.scope")
    return {"symbols": wanted} if wanted else {"index": _required(index, "index")}


def calendar_params(
    from_date: date | str, to_date: date | str, exchange: str, segment: str
) -> dict[str, Any]:
    """ISO dates, ``from`` not after ``to``; exchange and segment upper-cased. Pure; raises
    ``ClientValidationError``."""
    texts = [d.isoformat() if isinstance(d, date) else _required(d, "date") for d in (from_date, to_date)]
    try:
        start, end = (date.fromisoformat(t) for t in texts)
    except ValueError as exc:
        raise ClientValidationError("from_date and to_date must be ISO dates", rule="calendar.dates") from exc
    if start > end:
        raise ClientValidationError("from_date must not be after to_date", rule="calendar.dates")
    return {
        "from": texts[0],
        "to": texts[1],
        "exchange": _required(exchange, "exchange").upper(),
        "segment": _required(segment, "segment").upper(),
    }


class ReadSurfaceEndpoints:
    """Portfolio, calendar, index, fundamentals and indicator reads; the host provides
    ``_pipeline``."""

    _pipeline: Pipeline

    # -- account portfolio -------------------------------------------------------------------
    async def get_account_portfolio(
        self, *, account_scope: str | None = None, schema_version: int = 1
    ) -> Any:
        """Funds, holdings and positions of the token's account (or ``account_scope``)."""
        params: dict[str, Any] = {"schema_version": schema_version}
        if account_scope is not None:
            params["account_scope"] = _required(account_scope, "account_scope")
        return await self._pipeline.call(E["get_account_portfolio"], params=params)

    async def get_account_portfolio_snapshot(
        self, *, account_scope: str | None = None, schema_version: int = 1
    ) -> AccountPortfolio:
        doc = await self.get_account_portfolio(account_scope=account_scope, schema_version=schema_version)
        return to_struct(doc, AccountPortfolio)

    # -- market calendar ---------------------------------------------------------------------
    async def get_market_calendar(
        self,
        from_date: date | str,
        to_date: date | str,
        *,
        exchange: str = "NSE",
        segment: str = "CM",
        schema_version: int = 1,
    ) -> Any:
        """The exchange's sessions (trading days, holidays, special sessions) in the range."""
        params = {**calendar_params(from_date, to_date, exchange, segment), "schema_version": schema_version}
        return await self._pipeline.call(E["get_market_calendar"], params=params)

    async def get_market_calendar_snapshot(
        self,
        from_date: date | str,
        to_date: date | str,
        *,
        exchange: str = "NSE",
        segment: str = "CM",
        schema_version: int = 1,
    ) -> MarketCalendar:
        doc = await self.get_market_calendar(
            from_date, to_date, exchange=exchange, segment=segment, schema_version=schema_version
        )
        return to_struct(doc, MarketCalendar)

    async def get_market_calendar_status(
        self, *, exchange: str = "NSE", segment: str = "CM", schema_version: int = 1
    ) -> Any:
        """Which dates the calendar covers and how fresh it is."""
        params = {
            "exchange": _required(exchange, "exchange").upper(),
            "segment": _required(segment, "segment").upper(),
            "schema_version": schema_version,
        }
        return await self._pipeline.call(E["get_market_calendar_status"], params=params)

    async def get_market_calendar_status_snapshot(
        self, *, exchange: str = "NSE", segment: str = "CM", schema_version: int = 1
    ) -> MarketCalendarStatus:
        doc = await self.get_market_calendar_status(
            exchange=exchange, segment=segment, schema_version=schema_version
        )
        return to_struct(doc, MarketCalendarStatus)

    # -- index constituents ------------------------------------------------------------------
    async def get_index_constituents(self, source_list: str, *, schema_version: int = 1) -> Any:
        """The members of an index list (e.g. ``NIFTY50``)."""
        path = {"source_list": _required(source_list, "source_list")}
        return await self._pipeline.call(
            E["get_index_constituents"], path, params={"schema_version": schema_version}
        )

    async def get_index_constituents_snapshot(
        self, source_list: str, *, schema_version: int = 1
    ) -> IndexConstituents:
        return to_struct(
            await self.get_index_constituents(source_list, schema_version=schema_version), IndexConstituents
        )

    async def get_index_constituent_status(self, source_list: str, *, schema_version: int = 1) -> Any:
        path = {"source_list": _required(source_list, "source_list")}
        return await self._pipeline.call(
            E["get_index_constituent_status"], path, params={"schema_version": schema_version}
        )

    async def get_index_constituent_status_snapshot(
        self, source_list: str, *, schema_version: int = 1
    ) -> IndexConstituentStatus:
        doc = await self.get_index_constituent_status(source_list, schema_version=schema_version)
        return to_struct(doc, IndexConstituentStatus)

    # -- fundamentals (typed results, as the 0.13 SDK returns them) --------------------------
    async def get_fundamentals_features(
        self, *, symbols: Iterable[str] | None = None, index: str | None = None
    ) -> FundamentalFeatures:
        """Feature rows (valuation, growth, holdings) for ``symbols`` or an ``index``."""
        params = {**fundamentals_scope(symbols, index), "schema_version": 1}
        return to_struct(
            await self._pipeline.call(E["get_fundamentals_features"], params=params), FundamentalFeatures
        )

    async def get_fundamentals_status(
        self, *, symbols: Iterable[str] | None = None, index: str | None = None
    ) -> FundamentalsStatus:
        """Per-symbol freshness plus the recent sync runs."""
        params = {**fundamentals_scope(symbols, index), "schema_version": 1}
        return to_struct(
            await self._pipeline.call(E["get_fundamentals_status"], params=params), FundamentalsStatus
        )

    async def get_fundamentals_statements(
        self, symbol: str, *, dataset: str, statement_scope: str = "consolidated"
    ) -> FundamentalsStatements:
        """Statement rows of one symbol and dataset (e.g. ``quarterly``)."""
        params = {
            "symbol": _required(symbol, "symbol").upper(),
            "dataset": _required(dataset, "dataset"),
            "statement_scope": statement_scope,
            "schema_version": 1,
        }
        doc = await self._pipeline.call(E["get_fundamentals_statements"], params=params)
        return to_struct(doc, FundamentalsStatements)

    async def export_fundamentals_csv(
        self,
        *,
        symbols: Iterable[str] | None = None,
        index: str | None = None,
        dataset: str = "fundamentals_features",
        schema_version: int = 1,
    ) -> str:
        """The dataset as CSV text (the one non-JSON answer: the pipeline hands non-JSON bodies
        back as ``{"raw": text}``, an empty body as ``{}``)."""
        params = {**fundamentals_scope(symbols, index), "dataset": dataset, "schema_version": schema_version}
        doc = await self._pipeline.call(E["export_fundamentals_csv"], params=params)
        if isinstance(doc, Mapping):
            return str(doc.get("raw", ""))
        return str(doc)  # a CSV that happens to be a JSON scalar (one number)

    async def refresh_fundamentals(
        self, *, symbols: Iterable[str] | None = None, index: str | None = None, mode: str = "incremental"
    ) -> FundamentalsSyncRun:
        """Run a fundamentals sync now (the server caps the scope at 50 symbols and runs one sync
        at a time: ``ConflictError`` while another runs)."""
        body: dict[str, Any] = {"mode": mode, **fundamentals_scope(symbols, index)}
        return to_struct(await self._pipeline.call(E["refresh_fundamentals"], body=body), FundamentalsSyncRun)

    # -- indicators --------------------------------------------------------------------------
    async def calculate_indicator(self, request: Mapping[str, Any]) -> Any:
        """Compute one allowlisted indicator server-side: ``request`` holds ``name``, ``bars``
        and the optional ``period``, ``fast_period``, ``slow_period``, ``signal_period``,
        ``multiplier``, ``include_forming``."""
        return await self._pipeline.call(E["calculate_indicator"], body=dict(request))
