"""Runs and sessions: create, read with health, list, claim/release/heartbeat, guards (contract §4.2, §4.3).

Pure: no I/O; every operation takes ``now``. Errors are ``ApiError`` with the contract's exact
status and detail. Check order follows the contract so that a request failing two checks gets the
same answer as from the reference server.

Invariants:

* a run is usable only with the token that created it (``assert_run_access``);
* a claim always mints a fresh ``wsn_`` nonce and never touches ``last_heartbeat_at``;
* the session guard is not time-based: a stale holder still passes it until someone else claims.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import msgspec

from ._auth import TokenRecord, parse_scope, scope_allowed
from ._errors import ApiError, body_error, rejection

HEALTHY_MAX_S = 45.0  # health_status "healthy" ceiling (contract §7.5)
STALE_MAX_S = 180.0  # beyond: "disconnected"
SESSION_FRESHNESS_S = 60.0  # WORKER_SESSION_FRESHNESS_SECONDS
CLAIM_WITHOUT_HEARTBEAT_S = 120.0  # WORKER_SESSION_CLAIM_WITHOUT_HEARTBEAT_SECONDS
VALID_MODES = ("paper", "dry_run", "live")
LIVE_FAMILIES = ("options_strategy", "indicator_strategy", "investment_strategy", "discretionary_strategy")
TERMINAL = ("closed", "failed")


def iso(value: dt.datetime | None) -> str | None:
    """ISO-8601 with offset, as the reference server's encoder renders aware datetimes."""
    return None if value is None else value.isoformat()


class Run(msgspec.Struct, kw_only=True):
    """One strategy run as stored (the wire document is ``run_doc``)."""

    strategy_run_id: str
    token_id: str
    template_id: str
    account_scope: str
    execution_mode: str
    status: str = "open"
    summary_fields: list[Any] = msgspec.field(default_factory=list)
    risk_schema: list[Any] = msgspec.field(default_factory=list)
    allowed_actions: list[Any] = msgspec.field(default_factory=lambda: ["edit_risk", "exit_strategy"])
    runtime_state: dict[str, Any] = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    worker_session_nonce: str | None = None
    worker_session_claimed_at: dt.datetime | None = None
    last_heartbeat_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None = None

    def touch(self, now: dt.datetime) -> None:
        self.updated_at = now

    def close(self, now: dt.datetime, reason: str | None = None) -> None:
        self.status = "closed"
        self.closed_at = now
        self.updated_at = now
        if reason is not None:
            self.runtime_state["exit_reason"] = reason


def run_doc(run: Run) -> dict[str, Any]:
    """The run document of create/risk/protection responses (no health enrichment)."""
    return {
        "strategy_run_id": run.strategy_run_id,
        "token_id": run.token_id,
        "template_id": run.template_id,
        "account_scope": run.account_scope,
        "execution_mode": run.execution_mode,
        "status": run.status,
        "summary_fields": run.summary_fields,
        "risk_schema": run.risk_schema,
        "allowed_actions": run.allowed_actions,
        "runtime_state": run.runtime_state,
        "metadata": run.metadata,
        "worker_session_nonce": run.worker_session_nonce,
        "worker_session_claimed_at": iso(run.worker_session_claimed_at),
        "last_heartbeat_at": iso(run.last_heartbeat_at),
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "closed_at": iso(run.closed_at),
    }


def heartbeat_age(run: Run, now: dt.datetime, held_cap_s: float | None = None) -> float | None:
    """Seconds since the run's last heartbeat (None before the first). ``held_cap_s``
    (``SandboxState.held_session_age_cap_s``, a backtest's) caps it while a session is held."""
    if run.last_heartbeat_at is None:
        return None
    age = max(0.0, (now - run.last_heartbeat_at).total_seconds())
    if held_cap_s is not None and run.worker_session_nonce:
        return min(age, held_cap_s)
    return age


def health_fields(run: Run, now: dt.datetime, held_cap_s: float | None = None) -> dict[str, Any]:
    """The read-time health fields of ``get_run`` (contract §4.2, §7.2)."""
    age = heartbeat_age(run, now, held_cap_s)
    if age is None:
        health = "unknown"
    elif age <= HEALTHY_MAX_S:
        health = "healthy"
    elif age <= STALE_MAX_S:
        health = "stale"
    else:
        health = "disconnected"
    if not run.worker_session_nonce:
        session = "missing"
    elif health == "healthy":
        session = "claimed"
    elif health == "unknown":
        session = "takeover_required"
    else:
        session = "stale"
    recovery = run.runtime_state.get("runtime_recovery")
    recovery = recovery if isinstance(recovery, dict) else {}
    return {
        "heartbeat_age_sec": None if age is None else int(age),
        "health_status": health,
        "session_status": session,
        "recovery_status": recovery.get("recovery_status"),
        "recovery_action_required": bool(recovery.get("action_required", False)),
    }


def run_doc_with_health(run: Run, now: dt.datetime, held_cap_s: float | None = None) -> dict[str, Any]:
    doc = run_doc(run)
    doc.update(health_fields(run, now, held_cap_s))
    return doc


# -- access -------------------------------------------------------------------------------


def assert_run_access(token: TokenRecord, run: Run) -> None:
    """``_assert_run_access`` (contract §2.4): owner token, then scope, then template."""
    if run.token_id != token.token_id:
        raise ApiError(403, "Worker token cannot access this run")
    if not scope_allowed(token.account_scope, run.account_scope):
        raise ApiError(403, "Worker token cannot access this account scope")
    if token.allowed_templates and run.template_id not in token.allowed_templates:
        raise ApiError(403, "Worker token cannot access this strategy template")


def check_mode(token: TokenRecord, mode: str, message: str) -> None:
    """403 for a mode outside paper/dry_run/live, then 403 ``message`` if the token lacks it."""
    if mode not in VALID_MODES:
        raise ApiError(
            403, "Algo worker API allows only paper, dry_run, and explicitly enabled live execution modes"
        )
    if mode not in token.allowed_modes:
        raise ApiError(403, message)


def session_guard(run: Run, header: str | None) -> None:
    """The session guard table of contract §4.3.3."""
    if not run.worker_session_nonce:
        return
    value = (header or "").strip()
    if not value:
        raise rejection(409, "WORKER_SESSION_REQUIRED", strategy_run_id=run.strategy_run_id)
    if value != run.worker_session_nonce:
        raise rejection(409, "WORKER_SESSION_CONFLICT", strategy_run_id=run.strategy_run_id)


# -- create -------------------------------------------------------------------------------


class CreateRunBody(msgspec.Struct, kw_only=True):
    """``WorkerRunCreateRequest`` (unknown fields ignored, as FastAPI does)."""

    template_id: str
    account_scope: str
    strategy_run_id: str | None = None
    execution_mode: str = "paper"
    strategy_id: str | None = None
    summary_fields: list[dict[str, Any]] = msgspec.field(default_factory=list)
    risk_schema: list[dict[str, Any]] = msgspec.field(default_factory=list)
    allowed_actions: list[str] = msgspec.field(default_factory=lambda: ["edit_risk", "exit_strategy"])
    runtime_state: dict[str, Any] = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


def parse_create_body(raw: Any) -> CreateRunBody:
    """Schema validation (422, before authentication)."""
    try:
        body = msgspec.convert(raw, CreateRunBody)
    except msgspec.ValidationError as exc:
        raise body_error(["body"], str(exc), "value_error", raw) from None
    if not body.template_id:
        raise body_error(
            ["body", "template_id"], "String should have at least 1 character", "string_too_short", ""
        )
    if not body.account_scope:
        raise body_error(
            ["body", "account_scope"], "String should have at least 1 character", "string_too_short", ""
        )
    body.execution_mode = (body.execution_mode or "paper").strip().lower()
    return body


def validate_create(
    token: TokenRecord, body: CreateRunBody, validate_protection: Any
) -> tuple[str, dict[str, Any] | None]:
    """The create checks after ``runs:create`` (contract §4.2 check order).

    Returns the normalised scope and the normalised protection (or None). ``validate_protection``
    is a callable raising ``ValueError`` (or a subclass) with the validation text.
    """
    mode = body.execution_mode
    if mode not in VALID_MODES:
        raise ApiError(
            403, "Algo worker API allows only paper, dry_run, and explicitly enabled live execution modes"
        )
    try:
        scope, is_paper = parse_scope(body.account_scope)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    if mode == "paper" and not is_paper:
        raise ApiError(400, "Paper worker runs require a paper account_scope")
    if not scope_allowed(token.account_scope, scope):
        raise ApiError(403, "Worker token cannot create runs for this account scope")
    if token.allowed_templates and body.template_id not in token.allowed_templates:
        raise ApiError(403, "Worker token cannot create this strategy template")
    if mode not in token.allowed_modes:
        raise ApiError(403, "Worker token cannot use this execution mode")
    if mode == "live":
        if is_paper:
            raise ApiError(400, "Live worker runs require a live kite:<broker_user_id> account_scope")
        missing = [k for k in ("strategy_family", "strategy_name") if not body.metadata.get(k)]
        if missing:
            raise ApiError(400, f"Live worker runs require metadata fields: {', '.join(missing)}")
        if body.metadata.get("strategy_family") not in LIVE_FAMILIES:
            raise ApiError(400, f"Live worker runs require strategy_family in {', '.join(LIVE_FAMILIES)}")
    protection = None
    raw_protection = body.runtime_state.get("backend_protection")
    if raw_protection is not None:
        if not isinstance(raw_protection, dict):
            raise ApiError(422, "backend_protection must be an object")
        try:
            protection = validate_protection(raw_protection)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
    return scope, protection


def initial_protection_state(
    protection: dict[str, Any], now: dt.datetime, reason: str, generation: int = 1
) -> dict[str, Any]:
    return {
        "status": "active" if protection.get("enabled") else "disabled",
        "generation": generation,
        "version": protection.get("version", 1),
        "update_reason": reason,
        "updated_at": iso(now),
        "last_checked_at": None,
        "triggered_rule": None,
        "action": None,
        "exit_submitted": False,
        "errors": [],
    }


def new_run(
    token: TokenRecord, body: CreateRunBody, scope: str, protection: dict[str, Any] | None, now: dt.datetime
) -> Run:
    runtime_state = dict(body.runtime_state)
    if protection is not None:
        runtime_state["backend_protection"] = protection
        runtime_state["backend_protection_state"] = initial_protection_state(protection, now, "run_create")
    return Run(
        strategy_run_id=body.strategy_run_id or "run_" + secrets.token_hex(16),
        token_id=token.token_id,
        template_id=body.template_id,
        account_scope=scope,
        execution_mode=body.execution_mode,
        summary_fields=body.summary_fields,
        risk_schema=body.risk_schema,
        allowed_actions=body.allowed_actions,
        runtime_state=runtime_state,
        metadata=dict(body.metadata),
        created_at=now,
        updated_at=now,
    )


def list_item(run: Run) -> dict[str, Any]:
    """An item of ``GET /worker/runs`` (S3): no metadata, nonce or token id."""
    md = run.metadata
    name = md.get("strategy_name") or md.get("name") or run.template_id or run.strategy_run_id
    return {
        "strategy_run_id": run.strategy_run_id,
        "name": name,
        "template_id": run.template_id,
        "account_scope": run.account_scope,
        "execution_mode": run.execution_mode,
        "status": run.status,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "closed_at": iso(run.closed_at),
    }


# -- sessions -----------------------------------------------------------------------------


def claimable(run: Run, now: dt.datetime, held_cap_s: float | None = None) -> bool:
    """Whether a claim succeeds now (contract §4.3.1)."""
    if not run.worker_session_nonce:
        return True
    age = heartbeat_age(run, now, held_cap_s)
    if age is not None:
        return age > SESSION_FRESHNESS_S
    claimed = run.worker_session_claimed_at
    return claimed is None or (now - claimed).total_seconds() > CLAIM_WITHOUT_HEARTBEAT_S


def claim(run: Run, now: dt.datetime, held_cap_s: float | None = None) -> dict[str, Any]:
    if not claimable(run, now, held_cap_s):
        raise rejection(409, "WORKER_SESSION_CONFLICT", strategy_run_id=run.strategy_run_id)
    run.worker_session_nonce = "wsn_" + secrets.token_hex(16)
    run.worker_session_claimed_at = now
    run.touch(now)
    return {
        "strategy_run_id": run.strategy_run_id,
        "worker_session_nonce": run.worker_session_nonce,
        "worker_session_claimed_at": iso(now),
    }


def _require_nonce(run: Run, header: str | None) -> str:
    value = (header or "").strip()
    if not value:
        raise rejection(409, "WORKER_SESSION_REQUIRED", strategy_run_id=run.strategy_run_id)
    if value != run.worker_session_nonce:
        raise rejection(409, "WORKER_SESSION_CONFLICT", strategy_run_id=run.strategy_run_id)
    return value


def release(run: Run, header: str | None, now: dt.datetime) -> dict[str, Any]:
    _require_nonce(run, header)
    run.worker_session_nonce = None
    run.worker_session_claimed_at = None
    run.touch(now)
    return {"status": "released", "strategy_run_id": run.strategy_run_id}


def heartbeat(run: Run, header: str | None, now: dt.datetime) -> dict[str, Any]:
    _require_nonce(run, header)
    run.last_heartbeat_at = now
    return {"status": "ok", "strategy_run_id": run.strategy_run_id, "last_heartbeat_at": iso(now)}


# -- risk ---------------------------------------------------------------------------------


def patch_risk(run: Run, patch: dict[str, Any], now: dt.datetime) -> None:
    if run.status in TERMINAL:
        raise ApiError(409, "Closed strategy runs cannot be risk-edited")
    risk = run.runtime_state.get("risk")
    merged = dict(risk) if isinstance(risk, dict) else {}
    merged.update(patch)
    run.runtime_state["risk"] = merged
    for entry in run.risk_schema:
        if isinstance(entry, dict) and entry.get("key") in patch:
            entry["value"] = patch[entry["key"]]
    run.touch(now)
