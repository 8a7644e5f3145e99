"""Small helpers shared by the example strategies (not part of the plugin API).

Kept apart so that each example module reads as the pattern it teaches. Nothing here blocks
except :func:`decide`, which is one HTTP call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supervisor import DecisionAction, DecisionType, StrategyContext

__all__ = [
    "LIVE_GATE_VAR",
    "blocking_reasons",
    "decide",
    "field",
    "live_refusal",
    "net_pnl",
    "strip_exchange",
]

LIVE_GATE_VAR = "KITE_ALGO_ENABLE_LIVE"


def field(doc: Any, name: str, default: Any = None) -> Any:
    """One field of a backend document, whether the client hands out dicts or typed records."""
    if isinstance(doc, Mapping):
        return doc.get(name, default)
    return getattr(doc, name, default)


def blocking_reasons(safety: Any) -> list[str]:
    """Why a safety check said no: its ``blocking_reasons``, else the run status."""
    reasons = field(safety, "blocking_reasons", None) or [f"run status {field(safety, 'run_status', '?')}"]
    return [str(r) for r in reasons]


def net_pnl(pnl: Any) -> float:
    """``totals.net_pnl`` of a run P&L document as a float (``nan`` when absent)."""
    value = field(field(pnl, "totals", {}), "net_pnl")
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def strip_exchange(symbol: str) -> tuple[str, str]:
    """``"NSE:INFY"`` -> ``("NSE", "INFY")``; a bare ``"INFY"`` is taken as NSE."""
    exchange, sep, tradingsymbol = symbol.partition(":")
    return (exchange.upper(), tradingsymbol) if sep else ("NSE", symbol)


def live_refusal(execution_mode: str, environ: Mapping[str, str]) -> str | None:
    """Why a live run must not trade here, or ``None``. The gate is ``KITE_ALGO_ENABLE_LIVE=1``
    (the seed's live-mode acknowledgement); dry_run and paper are always allowed."""
    if execution_mode == "live" and environ.get(LIVE_GATE_VAR) != "1":
        return f"live execution refused: set {LIVE_GATE_VAR}=1 to acknowledge live trading"
    return None


async def decide(
    ctx: StrategyContext,
    decision_type: DecisionType,
    action: DecisionAction,
    summary: str,
    **metadata: Any,
) -> Any:
    """Record a decision on the run's timeline (contract §4.12 body). Blocks on one HTTP call;
    raises the client's errors.

    ``decision_type`` is one of signal, entry, exit, risk_update, management, protection_ack,
    note; ``action`` one of enter, exit, hold, skip, modify, cancel, update_protection,
    arm_bracket, rebalance, observe.
    """
    return await ctx.run.log_decision_event(
        decision_type=decision_type, action=action, summary=summary[:500], metadata=metadata
    )
