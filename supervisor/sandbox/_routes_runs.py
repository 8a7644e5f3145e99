"""HTTP routes for liveness, runs, sessions, safety, intents, risk, protection and decisions.

Each handler follows the reference server's order: body/query schema (422) first, then the token
(401), the action (403), the run (404), access (403), the session guard (409), then the rule of
the route. Handlers call ``ctx.changed()`` after a mutation; the server then writes the change
through to SQLite and publishes new timeline events before the response is sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from ._asgi import Request, Response, Router, json_response
from ._auth import scope_allowed
from ._context import AppContext
from ._errors import ApiError, body_error, rejection
from ._intents import parse_intent_body, submit_intent
from ._options_protection import for_run as options_protection_for
from ._protection_config import update_protection, validate_protection
from ._runs import (
    claim,
    heartbeat,
    iso,
    list_item,
    new_run,
    parse_create_body,
    patch_risk,
    release,
    run_doc,
    run_doc_with_health,
    session_guard,
    validate_create,
)
from ._safety import safety_check
from ._state import SandboxState
from ._timeline import FILTERS, parse_decision

NONCE_HEADER = "x-worker-session-nonce"


def _state(ctx: AppContext) -> SandboxState:
    state: SandboxState = ctx.state
    return state


def _nonce(request: Request) -> str | None:
    return request.headers.get(NONCE_HEADER)


async def health(request: Request, ctx: AppContext) -> Response:
    # The reference server's body (the seed's {"status": "healthy"} is not what it says, §11 #5).
    token = ctx.authenticate(request)
    return json_response(
        {
            "status": "ok",
            "token_id": token.token_id,
            "account_scope": token.account_scope,
            "allowed_modes": sorted(token.allowed_modes),
            "allowed_actions": sorted(token.allowed_actions),
            "allowed_templates": list(token.allowed_templates),
        }
    )


def check_heartbeat_body(body: dict[str, Any]) -> None:
    """``{"worker_id": str|null, "status": str, "metrics": object}``: 422 on a wrong type."""
    if not isinstance(body.get("status", ""), str):
        raise body_error(["body", "status"], "Input should be a valid string", "string_type", body["status"])
    if body.get("worker_id") is not None and not isinstance(body["worker_id"], str):
        msg = "Input should be a valid string"
        raise body_error(["body", "worker_id"], msg, "string_type", body["worker_id"])
    if not isinstance(body.get("metrics", {}), dict):
        msg = "Input should be a valid dictionary"
        raise body_error(["body", "metrics"], msg, "dict_type", body["metrics"])


async def token_heartbeat(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    check_heartbeat_body(body)
    token = ctx.authenticate(request, "heartbeat")
    now = ctx.now()
    _state(ctx).token_heartbeats[token.token_id] = now
    _state(ctx).tokens_changed()
    ctx.changed()
    return json_response({"status": "ok", "token_id": token.token_id, "received_at": iso(now)})


async def create_run(request: Request, ctx: AppContext) -> Response:
    body = parse_create_body(await request.json(default={}))
    token = ctx.authenticate(request, "runs:create")
    state = _state(ctx)
    scope, protection = validate_create(token, body, validate_protection)
    if body.strategy_run_id is not None and body.strategy_run_id in state.runs:
        # S3 behaviour (S2 answered an unhandled 500): creating never recovers a run.
        raise ApiError(409, "Strategy run already exists")
    run = new_run(token, body, scope, protection, ctx.now())
    state.runs[run.strategy_run_id] = run
    state.mark(run)
    ctx.changed()
    return json_response(run_doc(run))


def _cursor_sig(secret: bytes, body: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode().rstrip("=")


async def list_runs(request: Request, ctx: AppContext) -> Response:
    limit = request.q_int("limit", 25, ge=1, le=100) or 25
    cursor = request.q("cursor")
    token = ctx.authenticate(request, "runs:read")
    state = _state(ctx)
    runs = [
        r
        for r in state.runs.values()
        if r.token_id == token.token_id
        and r.execution_mode in token.allowed_modes
        and (not token.allowed_templates or r.template_id in token.allowed_templates)
        and scope_allowed(token.account_scope, r.account_scope)
    ]
    runs.sort(key=lambda r: (r.created_at, r.strategy_run_id), reverse=True)
    if cursor:
        body_b64, _, sig = cursor.partition(".")
        try:
            raw = base64.urlsafe_b64decode(body_b64 + "=" * (-len(body_b64) % 4))
            valid = hmac.compare_digest(_cursor_sig(state.secret, raw), sig)
            after = json.loads(raw) if valid else None
        except ValueError:
            after = None
        if not isinstance(after, dict):
            raise ApiError(400, "Invalid cursor")
        key = (str(after.get("created_at")), str(after.get("strategy_run_id")))
        runs = [r for r in runs if (iso(r.created_at) or "", r.strategy_run_id) < key]
    page = runs[:limit]
    next_cursor = None
    if len(runs) > limit:
        last = page[-1]
        raw = json.dumps(
            {"v": 1, "created_at": iso(last.created_at), "strategy_run_id": last.strategy_run_id},
            separators=(",", ":"),
        ).encode()
        next_cursor = (
            base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + _cursor_sig(state.secret, raw)
        )
    return json_response({"items": [list_item(r) for r in page], "next_cursor": next_cursor})


async def get_run(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request, "runs:read")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    return json_response(run_doc_with_health(run, ctx.now(), state.held_session_age_cap_s))


async def claim_session(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request, "runs:read")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    result = claim(run, ctx.now(), state.held_session_age_cap_s)
    state.mark(run)
    ctx.changed()
    return json_response(result)


async def release_session(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request, "runs:read")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    result = release(run, _nonce(request), ctx.now())
    state.mark(run)
    ctx.changed()
    return json_response(result)


async def run_heartbeat(request: Request, ctx: AppContext) -> Response:
    body = await request.json(default={})  # validated, then ignored, as on the reference server
    check_heartbeat_body(body if isinstance(body, dict) else {})
    token = ctx.authenticate(request, "heartbeat")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    result = heartbeat(run, _nonce(request), ctx.now())
    state.mark(run)
    ctx.changed()
    return json_response(result)


async def get_safety_check(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request, "runs:read")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    now = ctx.now()
    status = ctx.engine.option_run_status(run.strategy_run_id)
    options = options_protection_for(ctx.engine, run.strategy_run_id, now)
    return json_response(
        safety_check(run, now, state.secret, status, options, held_cap_s=state.held_session_age_cap_s)
    )


async def post_intent(request: Request, ctx: AppContext) -> Response:
    body = parse_intent_body(await request.json(default={}))
    token = ctx.authenticate(request, "intents:submit")
    state = _state(ctx)
    # Synchronous from lookup to store: concurrent same-key requests execute once (see _intents).
    result = submit_intent(
        state,
        ctx.engine,
        token=token,
        run_id=request.path_params["run_id"],
        body=body,
        nonce=_nonce(request),
        now=ctx.now(),
        options_run_status=ctx.engine.option_run_status(request.path_params["run_id"]),
    )
    if result["status"] == "accepted":
        ctx.changed()
    return json_response(result)


async def patch_run_risk(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    patch = body.get("patch")
    if not isinstance(patch, dict):
        raise body_error(["body", "patch"], "Input should be a valid dictionary", "dict_type", patch)
    token = ctx.authenticate(request, "risk:update")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    session_guard(run, _nonce(request))
    patch_risk(run, patch, ctx.now())
    state.mark(run)
    ctx.changed()
    return json_response(run_doc(run))


async def patch_run_protection(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    if "backend_protection" not in body:
        raise body_error(["body", "backend_protection"], "Field required", "missing", body)
    reset_trailing = body.get("reset_trailing", True)
    if not isinstance(reset_trailing, bool):
        raise body_error(
            ["body", "reset_trailing"], "Input should be a valid boolean", "bool_type", reset_trailing
        )
    reason = body.get("reason")
    token = ctx.authenticate(request, "risk:update")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    session_guard(run, _nonce(request))
    now = ctx.now()
    reset = update_protection(
        run, body["backend_protection"], reason if isinstance(reason, str) else None, reset_trailing, now
    )
    if reset is not None:
        state.add_event(
            run,
            kind="protection",
            source="backend_protection",
            event_type="protection.reset",
            summary="Backend protection reset",
            payload=reset,
            now=now,
        )
    state.mark(run)
    ctx.changed()
    return json_response(run_doc(run))


async def post_decision(request: Request, ctx: AppContext) -> Response:
    parsed = parse_decision(await request.json(default={}))
    token = ctx.authenticate(request, "runs:log")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    # Guarded as on the reference server, though SDK 0.7.4 cannot send the nonce here (contract
    # §11 #4): a worker must learn that before it trades live. Our client sends it.
    session_guard(run, _nonce(request))
    if parsed["related_resource_type"] and parsed["related_resource_id"]:
        # The reference server requires the referenced row to belong to the run. Its three kinds
        # (basket executions, bracket intents, live execution links) exist only for live
        # orders, which the sandbox never places: no reference can resolve here.
        raise rejection(
            422,
            "UNKNOWN_RELATED_REF",
            related_resource_type=parsed["related_resource_type"],
            related_resource_id=parsed["related_resource_id"],
        )
    event = state.add_event(
        run,
        kind="decision",
        source="worker",
        event_type=parsed["event_type"],
        summary=parsed["summary"],
        payload=parsed["payload"],
        now=ctx.now(),
        related_resource_type=parsed["related_resource_type"],
        related_resource_id=parsed["related_resource_id"],
        basket_execution_id=parsed["basket_execution_id"],
    )
    ctx.changed()
    return json_response(event)


def timeline_filters(request: Request) -> dict[str, str]:
    return {name: value for name in FILTERS if (value := request.q(name))}


async def list_timeline(request: Request, ctx: AppContext) -> Response:
    after = request.q_int("after_cursor", 0, ge=0) or 0
    limit = request.q_int("limit", 200, ge=1, le=1000) or 200
    filters = timeline_filters(request)
    token = ctx.authenticate(request, "runs:read")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    events = state.timeline.query(run.strategy_run_id, after, limit, filters)
    last = max([after] + [int(e["cursor"]) for e in events])
    return json_response(
        {"strategy_run_id": run.strategy_run_id, "after_cursor": after, "last_cursor": last, "events": events}
    )


EXECUTION_KEYS = (
    "cursor",
    "strategy_run_id",
    "account_id",
    "basket_execution_id",
    "event_type",
    "payload",
    "created_at",
)


def execution_view(event: dict[str, Any]) -> dict[str, Any]:
    """The reduced event form of the execution-events endpoints (SDK 0.13, contract §4.12)."""
    return {k: event.get(k) for k in EXECUTION_KEYS}


def execution_filters(request: Request) -> dict[str, str]:
    filters = {"event_kind": "execution"}
    for name in ("basket_execution_id", "event_type"):
        if value := request.q(name):
            filters[name] = value
    return filters


async def list_execution_events(request: Request, ctx: AppContext) -> Response:
    after = request.q_int("after_cursor", 0, ge=0) or 0
    limit = request.q_int("limit", 200, ge=1, le=1000) or 200
    filters = execution_filters(request)
    token = ctx.authenticate(request, "runs:read")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    events = state.timeline.query(run.strategy_run_id, after, limit, filters)
    last = max([after] + [int(e["cursor"]) for e in events])
    return json_response(
        {
            "strategy_run_id": run.strategy_run_id,
            "after_cursor": after,
            "last_cursor": last,
            "events": [execution_view(e) for e in events],
        }
    )


def register(router: Router) -> None:
    """Add this module's routes to ``router`` (paths relative to the API prefix)."""
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/worker/health", health),
        ("POST", "/worker/heartbeat", token_heartbeat),
        ("POST", "/worker/runs", create_run),
        ("GET", "/worker/runs", list_runs),
        ("GET", "/worker/runs/{run_id}", get_run),
        ("POST", "/worker/runs/{run_id}/claim-session", claim_session),
        ("DELETE", "/worker/runs/{run_id}/claim-session", release_session),
        ("POST", "/worker/runs/{run_id}/heartbeat", run_heartbeat),
        ("GET", "/worker/runs/{run_id}/safety-check", get_safety_check),
        ("POST", "/worker/runs/{run_id}/intents", post_intent),
        ("PATCH", "/worker/runs/{run_id}/risk", patch_run_risk),
        ("PATCH", "/worker/runs/{run_id}/protection", patch_run_protection),
        ("POST", "/worker/runs/{run_id}/decision-events", post_decision),
        ("GET", "/worker/runs/{run_id}/timeline", list_timeline),
        ("GET", "/worker/runs/{run_id}/execution-events", list_execution_events),
    ]
    for method, path, handler in routes:
        router.add(method, path, handler)
