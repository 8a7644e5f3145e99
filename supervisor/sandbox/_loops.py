"""Run exits and the server's background rules: the market step, stale-run recovery, protection.

Pure: ``perform_exit`` and the ``*_tick(state, engine, now)`` functions mutate the state and
return what they did; the server's trio tasks call them every ``--tick-interval`` (the market),
30 s (stale recovery, contract §7.3), 10 s (exiting runs) and 5 s (protection, §7.4).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from ._errors import ApiError
from ._gtt import evaluate as evaluate_gtts
from ._intents import record_execution_events
from ._paper import PaperEngine
from ._portfolio import NO_LIVE, run_pnl
from ._runs import CLAIM_WITHOUT_HEARTBEAT_S, Run, heartbeat_age, iso, run_doc
from ._state import SandboxState

STALE_ACTION_S = 180.0  # WORKER_RUN_STALE_ACTION_SECONDS
RECOVERY_INTERVAL_S = 30.0
EXITING_INTERVAL_S = 10.0
PROTECTION_INTERVAL_S = 5.0
IST = ZoneInfo("Asia/Kolkata")
SQUAREOFF = {
    "NSE": (15, 20),
    "BSE": (15, 20),
    "NFO": (15, 25),
    "BFO": (15, 25),
    "CDS": (16, 45),
    "MCX": (23, 20),
}
CLOSING = ("success", "closed", "noop")


def market_tick(state: SandboxState, engine: PaperEngine, now: dt.datetime) -> bool:
    """One market step; returns whether prices moved (tick and candle streams then wake).

    In session: prices move, resting orders match, GTTs fire. On the first step after a session
    ends (or the first step at all, when closed): resting DAY orders are cancelled. At an option
    expiry's close its positions settle. Order changes go on their runs' timelines.
    """
    market = engine.market
    was_open = market.in_session
    moved = market.step(now)
    if moved:
        events = engine.on_prices(now)
        if evaluate_gtts(engine, now):
            state.engine_changed()
    elif was_open is not False:
        events = engine.on_close(now)
    else:
        return False
    events += engine.settle_expired(now)
    for event in events:
        run = state.runs.get(str(event["strategy_run_id"]))
        if run is not None:
            record_execution_events(state, run, {"order": event["order"]}, now)
    if events:
        state.engine_changed()
    return moved


def perform_exit(
    state: SandboxState, engine: PaperEngine, run: Run, reason: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Exit ``run`` by its mode (contract §4.9); returns the route's response body."""
    if run.execution_mode == "dry_run":
        run.close(now, reason or "dry_run_exit")
        state.mark(run)
        return {"mode": "dry_run", "status": "closed", "run": run_doc(run)}
    if run.execution_mode != "paper":
        raise ApiError(503, NO_LIVE)
    result = dict(engine.flatten_run(run.account_scope, run.strategy_run_id, now))
    state.engine_changed()
    result["strategy_id"] = run.strategy_run_id
    record_execution_events(state, run, result, now)
    status = str(result.get("status"))
    if status in CLOSING:
        run.close(now, reason or "worker_exit")
        outcome = "closed"
    else:
        outcome = "blocked" if status == "blocked" else "failed"
        run.touch(now)
    state.mark(run)
    return {"mode": "paper", "status": outcome, "result": result, "run": run_doc(run)}


# -- stale-run recovery (§7.3) --------------------------------------------------------------------


def _protected_against_stale(run: Run) -> bool:
    config = run.runtime_state.get("backend_protection")
    if not isinstance(config, dict) or not config.get("enabled"):
        return False
    ops = config.get("operations") or {}
    return bool(ops.get("exit_on_worker_stale"))


def is_stale(run: Run, now: dt.datetime, held_cap_s: float | None = None) -> bool:
    if run.status not in ("open", "paused"):
        return False
    if not run.worker_session_nonce and run.last_heartbeat_at is None:
        return False  # never claimed and never heartbeated: ignored
    if _protected_against_stale(run):
        return False
    age = heartbeat_age(run, now, held_cap_s)
    if age is not None:
        return age > STALE_ACTION_S
    claimed = run.worker_session_claimed_at
    return claimed is not None and (now - claimed).total_seconds() > CLAIM_WITHOUT_HEARTBEAT_S


def _recovery(status: str, reason: str, now: dt.datetime, action_required: bool = False) -> dict[str, Any]:
    return {
        "recovery_status": status,
        "reason": reason,
        "action_required": action_required,
        "checked_at": iso(now),
    }


def recovery_tick(state: SandboxState, engine: PaperEngine, now: dt.datetime) -> list[str]:
    """One pass of the stale-run recovery loop; returns the ids of the runs it acted on."""
    acted: list[str] = []
    for run in list(state.runs.values()):
        if not is_stale(run, now, state.held_session_age_cap_s):
            continue
        acted.append(run.strategy_run_id)
        try:
            if run.execution_mode == "dry_run":
                run.close(now, "dry_run_stale_auto_closed")
                record = _recovery("closed", "dry_run_stale_auto_closed", now)
            elif run.execution_mode == "paper" and not engine.market.is_open(now):
                # nse hours: a flatten cannot trade now; wait for the open instead of retrying
                # (and logging a rejected exit) every pass all night
                previous = run.runtime_state.get("runtime_recovery") or {}
                if previous.get("reason") == "paper_stale_exit_market_closed":
                    acted.pop()
                    continue
                record = _recovery("stalled", "paper_stale_exit_market_closed", now, True)
                record["details"] = {"retry_at": iso(engine.market.hours.next_open(now).astimezone(dt.UTC))}
            elif run.execution_mode == "paper":
                response = perform_exit(state, engine, run, "paper_stale_auto_exit", now)
                if response["status"] == "closed":
                    record = _recovery("closed", "paper_stale_exit_closed", now)
                else:
                    record = _recovery("stalled", "paper_stale_exit_blocked", now, True)
            else:
                record = _recovery("action_required", "live_stale_unprotected", now, True)
        except Exception as exc:  # isolation boundary: one run's failure must not stop the loop
            record = _recovery("error", "recovery_exception", now, True)
            record["details"] = {"error": str(exc)}
        run.runtime_state["runtime_recovery"] = record
        run.touch(now)
        state.mark(run)
    return acted


def exiting_tick(state: SandboxState, now: dt.datetime) -> list[str]:
    """Close non-live runs stuck in ``exiting`` (the 10 s loop of §7.3)."""
    acted = []
    for run in state.runs.values():
        if run.status == "exiting" and run.execution_mode in ("dry_run", "paper"):
            run.close(now)
            run.runtime_state["runtime_recovery"] = _recovery("closed", "exiting_non_live_auto_closed", now)
            state.mark(run)
            acted.append(run.strategy_run_id)
    return acted


# -- backend protection (§7.4) --------------------------------------------------------------------


def _leg_for(position: dict[str, Any], legs: list[dict[str, Any]]) -> dict[str, Any] | None:
    for leg in legs:
        if (
            position.get("instrument_token") is not None
            and leg.get("instrument_token") == position["instrument_token"]
        ):
            return leg
        symbol = position.get("symbol")
        if symbol and f"{leg.get('exchange')}:{leg.get('tradingsymbol')}" == symbol:
            return leg
        if (
            position.get("tradingsymbol")
            and leg.get("tradingsymbol") == position["tradingsymbol"]
            and (position.get("exchange") in (None, leg.get("exchange")))
        ):
            return leg
    return None


def _position_rule(
    config: dict[str, Any], state: dict[str, Any], legs: list[dict[str, Any]]
) -> tuple[str, dict[str, Any]] | None:
    states = state.setdefault("position_states", {})
    for index, position in enumerate(config.get("positions") or []):
        leg = _leg_for(position, legs)
        if leg is None or not leg.get("last_price"):
            continue
        entry = float(position["entry_price"])
        last = float(leg["last_price"])
        sign = 1.0 if position.get("side", "BUY") == "BUY" else -1.0
        pct = sign * (last - entry) / entry * 100.0
        pstate = states.setdefault(str(index), {"best_pnl_pct": pct})
        pstate["best_pnl_pct"] = max(float(pstate.get("best_pnl_pct", pct)), pct)
        pstate["pnl_pct"] = pct
        details = {"position_index": index, "pnl_pct": pct, "last_price": last}
        if position.get("stoploss_pct") is not None and pct <= -float(position["stoploss_pct"]):
            return "position_stoploss", details
        if position.get("target_pct") is not None and pct >= float(position["target_pct"]):
            return "position_target", details
        trail = position.get("trailing_stoploss_pct")
        if trail is not None and pstate["best_pnl_pct"] - pct >= float(trail):
            return "position_trailing_stoploss", details
    return None


def _worker_age(state: SandboxState, run: Run, now: dt.datetime) -> float | None:
    if run.last_heartbeat_at is not None:
        return heartbeat_age(run, now, state.held_session_age_cap_s)
    last = state.token_heartbeats.get(run.token_id)
    return None if last is None else (now - last).total_seconds()


def _mis_rule(config: dict[str, Any], legs: list[dict[str, Any]], now: dt.datetime) -> dict[str, Any] | None:
    buffer = (config.get("operations") or {}).get("mis_squareoff_buffer_sec")
    if buffer is None:
        return None
    local = now.astimezone(IST)
    for leg in legs:
        if leg.get("product") != "MIS" or not leg.get("net_quantity"):
            continue
        hour, minute = SQUAREOFF.get(str(leg.get("exchange")), (15, 20))
        cutoff = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        remaining = (cutoff - local).total_seconds()
        if 0 <= remaining <= float(buffer) or remaining < 0:
            return {"tradingsymbol": leg.get("tradingsymbol"), "seconds_to_squareoff": remaining}
    return None


def _basket_rule(
    config: dict[str, Any], state: dict[str, Any], legs: list[dict[str, Any]]
) -> tuple[str, dict[str, Any]] | None:
    basket = config.get("basket")
    if not basket or not legs:
        return None
    exposure = sum(abs(leg["net_quantity"]) * float(leg["average_price"]) for leg in legs)
    if exposure <= 0:
        return None
    pct = sum(float(leg["gross_pnl"]) for leg in legs) / exposure * 100.0
    best = max(float(state.get("best_basket_pnl_pct", pct)), pct)
    state["current_basket_pnl_pct"] = pct
    state["best_basket_pnl_pct"] = best
    details = {"basket_pnl_pct": pct, "best_basket_pnl_pct": best}
    if basket.get("stoploss_pct") is not None and pct <= -float(basket["stoploss_pct"]):
        return "basket_stoploss", details
    if basket.get("target_pct") is not None and pct >= float(basket["target_pct"]):
        return "basket_target", details
    drawdown = basket.get("trailing_drawdown_pct")
    activate = basket.get("trailing_activate_pct")
    if (
        drawdown is not None
        and activate is not None
        and best >= float(activate)
        and best - pct >= float(drawdown)
    ):
        return "basket_trailing_drawdown", details
    return None


def evaluate_protection(
    state: SandboxState, engine: PaperEngine, run: Run, now: dt.datetime
) -> tuple[str, dict[str, Any]] | None:
    """The first matching rule (position → worker_stale → MIS square-off → basket), or None."""
    config = run.runtime_state.get("backend_protection") or {}
    pstate = run.runtime_state.setdefault("backend_protection_state", {})
    legs = run_pnl(engine, run, now)["legs"] if run.execution_mode == "paper" else []
    hit = _position_rule(config, pstate, legs)
    if hit:
        return hit
    ops = config.get("operations") or {}
    if ops.get("exit_on_worker_stale"):
        age = _worker_age(state, run, now)
        if age is not None and age >= float(ops.get("worker_stale_sec", 0)):
            return "worker_stale", {"heartbeat_age_sec": int(age)}
    mis = _mis_rule(config, legs, now)
    if mis is not None:
        return "mis_squareoff_buffer", mis
    return _basket_rule(config, pstate, legs)


def protection_tick(state: SandboxState, engine: PaperEngine, now: dt.datetime) -> list[str]:
    """One pass of the protection runtime; returns the ids of runs whose protection triggered."""
    triggered: list[str] = []
    for run in list(state.runs.values()):
        config = run.runtime_state.get("backend_protection")
        if run.status not in ("open", "exiting") or not isinstance(config, dict) or not config.get("enabled"):
            continue
        pstate = run.runtime_state.setdefault("backend_protection_state", {})
        if pstate.get("exit_submission_status") == "deferred" and pstate.get("exit_claim_id"):
            if engine.market.is_open(now):  # the open after a trigger outside the session
                _submit_protection_exit(state, engine, run, f"protection:{pstate.get('triggered_rule')}", now)
                state.mark(run)
            continue
        if pstate.get("status") not in (None, "active") or pstate.get("exit_claim_id"):
            continue
        try:
            hit = evaluate_protection(state, engine, run, now)
        except Exception as exc:  # isolation boundary per run
            pstate.update({"status": "error", "errors": [str(exc)], "last_checked_at": iso(now)})
            state.mark(run)
            continue
        pstate["last_checked_at"] = iso(now)
        state.mark(run)
        if hit is None:
            continue
        rule, details = hit
        triggered.append(run.strategy_run_id)
        claim_id = "pexit_" + secrets.token_hex(8)
        pstate.update(
            {
                "status": "triggered",
                "triggered_rule": rule,
                "action": "exit_strategy",
                "triggered_at": iso(now),
                "details": details,
                "exit_claim_id": claim_id,
                "exit_claimed_at": iso(now),
                "exit_idempotency_key": f"protection:{run.strategy_run_id}:{pstate.get('generation', 1)}",
            }
        )
        state.add_event(
            run,
            kind="protection",
            source="backend_protection",
            event_type="protection.triggered",
            summary=f"Backend protection triggered: {rule}",
            payload={"triggered_rule": rule, "details": details, "action": "exit_strategy"},
            now=now,
        )
        _submit_protection_exit(state, engine, run, f"protection:{rule}", now)
        state.mark(run)
    return triggered


def _submit_protection_exit(
    state: SandboxState, engine: PaperEngine, run: Run, reason: str, now: dt.datetime
) -> None:
    """Submit a triggered protection's exit (§7.4), keeping its claim only while an exit is due.

    A paper run's exit cannot trade while the market is closed (``--market-hours nse``): it is
    ``deferred`` to the next open, still claimed (so not patchable), and submitted by the first
    pass in session. An exit that ran and failed (``failed``/``blocked``: nothing in flight)
    releases its claim, so that ``PATCH .../protection`` can re-arm the run; the trigger stays
    recorded. One whose outcome is unknown (``unresolved``) keeps it, for reconciliation.
    """
    pstate = run.runtime_state["backend_protection_state"]
    if run.execution_mode == "paper" and not engine.market.is_open(now):
        pstate["exit_submission_status"] = "deferred"
        pstate["exit_retry_at"] = iso(engine.market.hours.next_open(now).astimezone(dt.UTC))
        return
    try:
        response = perform_exit(state, engine, run, reason, now)
    except Exception as exc:  # recorded for reconciliation, as "unresolved"
        pstate["exit_submission_status"] = "unresolved"
        pstate["errors"] = [str(exc)]
        return
    pstate.pop("exit_retry_at", None)
    pstate["exit_submission_status"] = response["status"]
    pstate["exit_result"] = response.get("result")
    pstate["exit_submitted"] = response["status"] == "closed"
    if not pstate["exit_submitted"]:
        pstate["released_exit_claim_id"] = pstate.get("exit_claim_id")
        pstate["exit_claim_id"] = None
