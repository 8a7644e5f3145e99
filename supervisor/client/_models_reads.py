"""Typed results of the SDK 0.13 read surfaces outside the strategy loop (contract §3 closing
note, §10 "Read surfaces"): account portfolio, market calendar, index constituents,
fundamentals.

Each answer is a source envelope (``schema_version``, ``source``, ``retrieved_at``, ...) plus
its data. Frozen msgspec Structs read with :func:`._models.to_struct`: unknown fields ignored,
numeric strings coerced, the conversion plan kept by msgspec per class after first use.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._models import Snapshot

__all__ = [
    "AccountPortfolio",
    "CalendarSession",
    "FundamentalFeatureRow",
    "FundamentalFeatures",
    "FundamentalsStatements",
    "FundamentalsStatus",
    "FundamentalsSymbolStatus",
    "FundamentalsSyncRun",
    "IndexConstituentStatus",
    "IndexConstituents",
    "IndexMember",
    "MarketCalendar",
    "MarketCalendarStatus",
    "PortfolioPosition",
    "SourceEnvelope",
]


def _dict() -> Any:
    return msgspec.field(default_factory=dict)


def _list() -> Any:
    return msgspec.field(default_factory=list)


class SourceEnvelope(Snapshot, frozen=True, kw_only=True):
    """Where a read came from and when; ``schema_version`` is what the client asked for."""

    schema_version: int = 1
    source: str = ""
    retrieved_at: str | None = None
    source_as_of: str | None = None


class IndexMember(Snapshot, frozen=True, kw_only=True):
    exchange: str = ""
    tradingsymbol: str = ""
    instrument_token: int | None = None
    company_name: str | None = None
    series: str | None = None
    isin_code: str | None = None
    sector: str | None = None


class IndexConstituents(SourceEnvelope, frozen=True, kw_only=True):
    source_list: str = ""
    complete: bool = False
    member_count: int = 0
    checksum: str | None = None
    effective_date: str | None = None
    source_url: str | None = None
    members: list[IndexMember] = _list()


class IndexConstituentStatus(SourceEnvelope, frozen=True, kw_only=True):
    source_list: str = ""
    complete: bool = False
    expected_member_count: int | None = None
    actual_member_count: int | None = None
    checksum: str | None = None
    effective_date: str | None = None
    last_attempt_at: str | None = None
    last_success_at: str | None = None
    last_failure_at: str | None = None
    last_failure: dict[str, Any] | None = None
    next_attempt_at: str | None = None
    scheduler_state: str | None = None
    retry_eligible: bool | None = None
    fresh: bool | None = None


class CalendarSession(Snapshot, frozen=True, kw_only=True):
    """One calendar day: ``session_type`` names a trading day, a holiday or a special session."""

    session_date: str
    session_type: str = ""
    opens_at: str | None = None
    closes_at: str | None = None
    verified: bool = False
    source_reference: str | None = None
    label: str | None = None


class MarketCalendar(SourceEnvelope, frozen=True, kw_only=True):
    exchange: str = ""
    segment: str = ""
    timezone: str = "Asia/Kolkata"
    calendar_version: int | None = None
    complete: bool | None = None
    amendment: dict[str, Any] | None = None
    sessions: list[CalendarSession] = _list()


class MarketCalendarStatus(SourceEnvelope, frozen=True, kw_only=True):
    exchange: str = ""
    segment: str = ""
    active_calendar_version: int | None = None
    coverage_start: str | None = None
    coverage_end: str | None = None
    complete: bool = False
    expiry_warning: bool = False
    official_source: str | None = None
    last_import_at: str | None = None
    last_attempt_at: str | None = None
    last_success_at: str | None = None
    last_failure_at: str | None = None
    last_error: str | None = None
    next_attempt_at: str | None = None
    pending_import: dict[str, Any] | None = None


class PortfolioPosition(Snapshot, frozen=True, kw_only=True):
    """A holding or a (net or day) position of the account."""

    exchange: str = ""
    tradingsymbol: str = ""
    instrument_token: int | None = None
    product: str | None = None
    quantity: int = 0
    average_price: float | None = None
    last_price: float | None = None


class AccountPortfolio(SourceEnvelope, frozen=True, kw_only=True):
    """Funds, holdings and positions read together; ``coherent`` says whether the parts were
    read within the server's skew bound (``coherence_skew_ms``)."""

    account_scope: str = ""
    coherent: bool = False
    coherence_skew_ms: int = 0
    component_times: dict[str, str] = _dict()
    funds: dict[str, Any] = _dict()
    holdings: list[PortfolioPosition] = _list()
    net_positions: list[PortfolioPosition] = _list()
    day_positions: list[PortfolioPosition] = _list()
    profile_capabilities: dict[str, Any] = _dict()


class FundamentalFeatureRow(Snapshot, frozen=True, kw_only=True):
    symbol: str
    statement_scope: str = "consolidated"
    company_name: str | None = None
    market_cap_cr: float | None = None
    current_price: float | None = None
    stock_pe: float | None = None
    book_value: float | None = None
    dividend_yield_pct: float | None = None
    latest_quarter_revenue: float | None = None
    latest_quarter_net_profit: float | None = None
    latest_quarter_eps: float | None = None
    ttm_revenue: float | None = None
    ttm_net_profit: float | None = None
    quarterly_revenue_yoy_pct: float | None = None
    quarterly_profit_yoy_pct: float | None = None
    latest_roce_pct: float | None = None
    latest_roe_pct: float | None = None
    promoter_holding_pct: float | None = None
    fii_holding_pct: float | None = None
    dii_holding_pct: float | None = None
    as_of_date: str | None = None
    scraped_at: str | None = None


class FundamentalFeatures(SourceEnvelope, frozen=True, kw_only=True):
    features: list[FundamentalFeatureRow] = _list()
    missing_symbols: list[str] = _list()


class FundamentalsSymbolStatus(Snapshot, frozen=True, kw_only=True):
    symbol: str
    statement_scope: str = "consolidated"
    status: str = ""
    last_checked_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None


class FundamentalsStatus(SourceEnvelope, frozen=True, kw_only=True):
    symbols: list[FundamentalsSymbolStatus] = _list()
    missing_symbols: list[str] = _list()
    recent_runs: list[dict[str, Any]] = _list()


class FundamentalsStatements(SourceEnvelope, frozen=True, kw_only=True):
    symbol: str = ""
    statement_scope: str = "consolidated"
    dataset: str = ""
    rows: list[dict[str, Any]] = _list()


class FundamentalsSyncRun(Snapshot, frozen=True, kw_only=True):
    """The summary of one fundamentals sync (the only mutating fundamentals call)."""

    run_id: str
    scope: dict[str, str] = _dict()
    mode: str = "incremental"
    symbols_requested: int = 0
    symbols_changed: int = 0
    symbols_unchanged: int = 0
    symbols_failed: int = 0
    symbols_skipped: int = 0
    failed_symbols: list[dict[str, str]] = _list()
