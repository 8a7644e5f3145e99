"""Options-run protection evaluation (contract §4.4, §4.15): one rule set for the options routes
and the worker run's safety check.

Pure. An options run's protection (``stoploss_pct`` / ``target_pct``) is evaluated on its paper
P&L as a percentage of the premium paid (gross exposure at entry prices). The result has the
shape of the safety check's ``options_protection`` block; a triggered rule blocks trading on a
worker run with the same id (``OPTIONS_PROTECTION_TRIGGERED``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._paper import PaperEngine

NOT_APPLICABLE: dict[str, Any] = {
    "applicable": False,
    "run_status": None,
    "evaluation_mode": "run_state",
    "triggered": False,
    "blocking": False,
    "blocking_reason": None,
    "matched_rule": None,
    "metrics": {},
    "recommended_exit_orders_count": 0,
}


def evaluate(run: dict[str, Any], pnl: dict[str, Any]) -> dict[str, Any]:
    """The protection evaluation of an options ``run`` given its P&L (``{totals, legs}``)."""
    protection = run.get("protection") or {}
    premium = sum(abs(leg["net_quantity"]) * leg["average_price"] for leg in pnl["legs"]) or 0.0
    pnl_pct = pnl["totals"]["gross_pnl"] / premium * 100 if premium else 0.0
    rule = None
    if protection.get("stoploss_pct") is not None and pnl_pct <= -float(protection["stoploss_pct"]):
        rule = "stoploss_pct"
    elif protection.get("target_pct") is not None and pnl_pct >= float(protection["target_pct"]):
        rule = "target_pct"
    return {
        "applicable": bool(protection),
        "run_status": run["status"],
        "evaluation_mode": "run_state",
        "triggered": rule is not None,
        "blocking": rule is not None,
        "blocking_reason": "OPTIONS_PROTECTION_TRIGGERED" if rule else None,
        "matched_rule": rule and f"option:{rule}",
        "metrics": {"pnl_pct": pnl_pct, "premium": premium},
        "recommended_exit_orders_count": len(pnl["legs"]) if rule else 0,
    }


def for_run(engine: PaperEngine, run_id: str, now: dt.datetime) -> dict[str, Any] | None:
    """The evaluation of the options run with this id, or None when there is none."""
    run = engine.book.option_runs.get(run_id)
    if run is None:
        return None
    return evaluate(run, engine.run_pnl(run_id, now))
