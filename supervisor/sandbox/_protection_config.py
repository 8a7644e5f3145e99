"""Backend protection configuration on runs: validation and ``PATCH .../protection`` (contract §4.11).

Pure. Validation is the client's ``validate_protection_dict`` (one rule set for both sides); its
``ProtectionRuleError`` becomes ``ValueError`` here so that routes answer 422 with the rule text.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from supervisor.client._errors import ProtectionRuleError
from supervisor.client._protection import validate_protection_dict

from ._errors import ApiError
from ._runs import TERMINAL, Run, initial_protection_state

RESETTABLE = ("", "active", "disabled", "triggered", "error")


def validate_protection(raw: dict[str, Any]) -> dict[str, Any]:
    """Normalised protection config; ``ValueError`` with the rule text when invalid."""
    try:
        return validate_protection_dict(raw)
    except ProtectionRuleError as exc:
        raise ValueError(str(exc)) from None


def update_protection(
    run: Run, raw: Any, reason: str | None, reset_trailing: bool, now: dt.datetime
) -> dict[str, Any] | None:
    """Apply a protection patch; returns a ``protection.reset`` event payload when one is due."""
    if run.status in TERMINAL:
        raise ApiError(409, "Closed strategy runs cannot be protection-edited")
    current = run.runtime_state.get("backend_protection_state")
    current = current if isinstance(current, dict) else {}
    if current.get("exit_submitted"):
        raise ApiError(409, "Backend protection cannot be reset after a terminal protection exit")
    if current.get("exit_claim_id"):
        raise ApiError(409, "Backend protection exit is already in progress")
    previous_status = str(current.get("status") or "")
    if previous_status not in RESETTABLE:
        raise ApiError(409, "Backend protection cannot be reset from current status")
    if not isinstance(raw, dict):
        raise ApiError(422, "backend_protection must be an object")
    try:
        config = validate_protection(raw)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    previous = run.runtime_state.get("backend_protection")
    previous_version = int(previous.get("version", 0)) if isinstance(previous, dict) else 0
    config["version"] = max(int(config.get("version", 1)), previous_version + 1)
    generation = int(current.get("generation", 0) or 0) + 1
    state = initial_protection_state(config, now, reason or "worker_update", generation)
    state["reset_trailing"] = reset_trailing
    if not reset_trailing:
        for key in ("best_basket_pnl_pct", "position_states"):
            if key in current:
                state[key] = current[key]
    run.runtime_state["backend_protection"] = config
    run.runtime_state["backend_protection_state"] = state
    run.touch(now)
    if previous_status in ("triggered", "error") and state["status"] == "active":
        return {"previous_status": previous_status, "generation": generation, "reason": reason}
    return None
