"""Safety checks and safety tokens (contract §4.4).

Pure. A safety token is base64url of ``{"payload": {strategy_run_id, fingerprint, expires_at},
"sig": hex HMAC-SHA256}`` keyed by the sandbox's secret; the fingerprint hashes the state that
decides ``can_trade``, so any change that would block trading invalidates outstanding tokens.
The response carries ``execution_mode`` as the reference server's does, although SDK 0.7.4's
strict ``SafetyCheckResult`` raises ``TypeError`` on it (contract §1.6, §11 #1): a worker on
0.7.4 meets that here rather than live. SDK 0.13's model and our client accept it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from ._errors import rejection
from ._options_protection import NOT_APPLICABLE
from ._runs import Run, heartbeat_age, iso

TOKEN_TTL_S = 10.0
OPTIONS_ACTIVE = ("created", "entry_previewed", "entering", "entered", "partial_entry")


def protection_state(run: Run) -> dict[str, Any]:
    state = run.runtime_state.get("backend_protection_state")
    return state if isinstance(state, dict) else {}


def blocking_reasons(
    run: Run, options_run_status: str | None = None, options_triggered: bool = False
) -> list[str]:
    reasons: list[str] = []
    if run.status != "open":
        reasons.append("RUN_NOT_OPEN")
    state = protection_state(run)
    if state.get("status", "active") == "triggered":
        reasons.append("GENERIC_PROTECTION_TRIGGERED")
    if state.get("exit_submitted", False):
        reasons.append("GENERIC_EXIT_IN_PROGRESS")
    if options_run_status is not None and options_run_status not in OPTIONS_ACTIVE:
        reasons.append("OPTIONS_RUN_NOT_ACTIVE")
    if options_triggered:
        reasons.append("OPTIONS_PROTECTION_TRIGGERED")
    return reasons


def fingerprint(run: Run, options_run_status: str | None = None) -> str:
    state = protection_state(run)
    raw = "|".join(
        [
            run.status,
            str(state.get("status", "active")),
            "1" if state.get("exit_submitted", False) else "0",
            options_run_status or "",
        ]
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def _sign(secret: bytes, payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(secret, canonical, hashlib.sha256).hexdigest()


def make_token(
    secret: bytes, run: Run, expires_at: dt.datetime, options_run_status: str | None = None
) -> str:
    payload = {
        "strategy_run_id": run.strategy_run_id,
        "fingerprint": fingerprint(run, options_run_status),
        "expires_at": iso(expires_at),
    }
    envelope = {"payload": payload, "sig": _sign(secret, payload)}
    return base64.urlsafe_b64encode(json.dumps(envelope, separators=(",", ":")).encode()).decode()


def safety_check(
    run: Run,
    now: dt.datetime,
    secret: bytes,
    options_run_status: str | None = None,
    options_protection: dict[str, Any] | None = None,
    *,
    held_cap_s: float | None = None,
) -> dict[str, Any]:
    """The safety-check response (the reference server's keys, see module docstring).

    ``options_protection`` is the evaluation of an options run with the same id
    (``_options_protection.for_run``), or None when there is none.
    """
    triggered = bool(options_protection and options_protection.get("triggered"))
    reasons = blocking_reasons(run, options_run_status, triggered)
    can_trade = not reasons
    state = protection_state(run)
    token = expires = None
    if can_trade:
        expires_at = now + dt.timedelta(seconds=TOKEN_TTL_S)
        token = make_token(secret, run, expires_at, options_run_status)
        expires = iso(expires_at)
    age = heartbeat_age(run, now, held_cap_s)
    return {
        "strategy_run_id": run.strategy_run_id,
        "can_trade": can_trade,
        "run_status": run.status,
        "execution_mode": run.execution_mode,
        "safety_token": token,
        "token_expires_at": expires,
        "blocking_reasons": reasons,
        "generic_protection": {
            "status": state.get("status", "active"),
            "triggered_rule": state.get("triggered_rule"),
            "exit_submitted": bool(state.get("exit_submitted", False)),
            "heartbeat_age_sec": None if age is None else int(age),
            "last_checked_at": state.get("last_checked_at"),
        },
        "options_protection": _options_block(options_run_status, options_protection, reasons),
        "evaluated_at": iso(now),
    }


def _options_block(
    status: str | None, evaluation: dict[str, Any] | None, reasons: list[str]
) -> dict[str, Any]:
    block = dict(evaluation) if evaluation is not None else dict(NOT_APPLICABLE)
    block["applicable"] = status is not None
    block["run_status"] = status
    if not block["blocking"] and "OPTIONS_RUN_NOT_ACTIVE" in reasons:
        block.update(blocking=True, blocking_reason="OPTIONS_RUN_NOT_ACTIVE")
    return block


def verify_token(
    run: Run, token: str, now: dt.datetime, secret: bytes, options_run_status: str | None = None
) -> None:
    """Raise 409 ``SAFETY_TOKEN_EXPIRED`` unless ``token`` is valid for the run's current state."""
    valid = False
    try:
        envelope = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        payload = envelope["payload"]
        sig = envelope["sig"]
        if (
            isinstance(payload, dict)
            and isinstance(sig, str)
            and hmac.compare_digest(_sign(secret, payload), sig)
        ):
            expires = dt.datetime.fromisoformat(str(payload["expires_at"]))
            valid = (
                payload.get("strategy_run_id") == run.strategy_run_id
                and payload.get("fingerprint") == fingerprint(run, options_run_status)
                and now < expires
            )
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        reasons = blocking_reasons(run, options_run_status) or ["SAFETY_STATE_UNKNOWN"]
        raise rejection(
            409, "SAFETY_TOKEN_EXPIRED", blocking_reasons=reasons, strategy_run_id=run.strategy_run_id
        )
