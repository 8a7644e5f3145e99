"""The official SDKs judge the standalone sandbox: their documented calls, sync and async, get
responses their typed models accept, and the reference server's answers where it diverges from
the SDK's docs (contract §11). See ``conftest.py`` for how each SDK runs."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Judge


def _common(out: dict[str, Any]) -> None:
    assert out["health"]["status"] == "ok"  # not the README's "healthy" (§11 #5)
    assert out["health"]["account_scope"] == "kite:paper-a"
    # get_funds(mode="paper") without a scope: the token's account (§4.10), not a 400
    assert out["funds_scope"] == "kite:paper-a"


def test_sdk_074_sync(sdk074: Judge) -> None:
    out = sdk074.run("sync")
    _common(out)
    assert out["funds_equity_net"] > 0  # get_funds_snapshot: the strict model took the body
    assert out["order_status"] == "filled"
    assert "unrealized_pnl" in out["position_keys"] and "charges" not in out["position_keys"]
    assert out["pnl_positions"] == 1 and out["exit"] == "closed"
    assert (out["orders"], out["trades"]) == (1, 1) and out["expiries"] > 0
    # the reference server's answers that 0.7.4 cannot take (§11 #1, #2, #3, #4)
    assert "unexpected keyword argument" in out["run_health_error"]
    assert "execution_mode" in out["safety_check_error"]
    assert out["decision_error"] == "KiteAlgoWorkerError: 409"
    assert out["decision_reason"] == "WORKER_SESSION_REQUIRED"
    assert out["readme_decision_error"] == "BrokerValidationError: 422"
    assert out["preview_keys"] == ["mode", "preview", "strategy_run_id"]
    assert "decision.signal" not in out["timeline"]


def test_sdk_013_sync(sdk013: Judge) -> None:
    out = sdk013.run("sync")
    _common(out)
    assert out["funds_equity_net"] > 0
    assert out["safety_can_trade"] is True  # tolerant model; the safety token was used
    assert out["order_status"] == "filled" and "unrealized_pnl" in out["position_keys"]
    assert out["preview_margin"] > 0  # preview_order_snapshot: strict OrderPreview, no warnings key
    assert out["decision"] == "decision.signal" and "decision.signal" in out["timeline"]
    assert out["readme_decision_error"] == "BrokerValidationError: 422"
    assert out["pnl_positions"] == 1 and out["exit"] == "closed"
    assert (out["orders"], out["trades"]) == (1, 1) and out["expiries"] > 0
    assert out["run_health"] == "claimed"  # tolerant in 0.13


@pytest.mark.parametrize("judge", ["sdk074", "sdk013"])
def test_async_clients(judge: str, request: pytest.FixtureRequest) -> None:
    sdk: Judge = request.getfixturevalue(judge)
    out = sdk.run("async")
    _common(out)
    assert out["pnl_positions"] == 0 and out["timeline"] == [] and out["gtts"] == []
    if sdk.version == "0.13.0":
        assert out["preview_margin"] > 0 and out["safety_can_trade"] is True
    else:
        assert out["preview_keys"] == ["mode", "preview", "strategy_run_id"]


def test_sdk_013_read_routes(sdk013: Judge) -> None:
    out = sdk013.run("reads")
    assert out["sessions"] == [
        ["2026-05-08", "regular", "2026-05-08T09:15:00+05:30"],
        ["2026-05-09", "closed", None],
        ["2026-05-10", "closed", None],
        ["2026-05-11", "regular", "2026-05-11T09:15:00+05:30"],
    ]
    assert out["coverage"] == ["2025-01-01", "2027-12-31", False]  # 2027 not yet published
    assert out["uncovered"] == [503, "CALENDAR_RANGE_UNCOVERED"]  # CalendarRangeUncoveredError
    assert out["members"] == [50, ["ADANIENT", "ADANIPORTS", "APOLLOHOSP"]]
    assert out["index_status"] == [True, 50]
    assert out["portfolio"][:2] == ["kite:paper-a", True]
    assert out["features"] == [2, True]
    assert out["fundamentals_status"] == ["fresh", "fresh"]
    assert out["statement_rows"] == 24  # 8 quarters x revenue, net profit, EPS
    assert out["csv_header"] == ["symbol", "statement_scope"]
    assert out["sync"] == [1, 1]
    assert out["sma"] == pytest.approx(127.0)  # closes 125..129
    assert out["schema_error"] == [422, "UNSUPPORTED_SCHEMA_VERSION"]


def test_sdk_013_read_routes_async(sdk013: Judge) -> None:
    out = sdk013.run("reads-async")
    assert [s[1] for s in out["sessions"]] == ["regular", "closed", "closed", "regular"]
    assert out["members"] == 50 and out["features"] == 50
    assert out["portfolio_scope"] == "kite:paper-a" and out["rsi_count"] == 20
