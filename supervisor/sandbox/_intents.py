"""Intents with per-run idempotency, by run mode (contract §4.5).

Pure: the paper engine (``_paper.PaperEngine``) is passed in, time too.

Idempotency is safe against concurrency by construction: ``submit_intent`` runs the replay
lookup, the execution and the store without yielding to the event loop (it is synchronous), so
two concurrent requests with one new key execute once; the second sees ``deduped``. (The
reference server can place two paper orders there, contract §4.5.3.)

Choices that differ from the reference server (all documented in the sandbox README):

* a paper basket with ``dry_run: true`` is validated and priced but **not placed** (the seed
  documents it as a preview; the reference paper engine ignores the flag and places it);
* malformed paper orders get ``400`` with the reason (the reference answers an unhandled 500),
  and do not consume the key;
* live runs: every order path answers ``503 No live Kite broker session is available for this
  worker account_scope`` (the sandbox never talks to a broker).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from ._auth import TokenRecord
from ._errors import ApiError, body_error
from ._paper import PaperEngine
from ._runs import Run, check_mode, session_guard
from ._safety import verify_token
from ._state import SandboxState

NO_LIVE = "No live Kite broker session is available for this worker account_scope"


class IntentBody(msgspec.Struct, kw_only=True):
    intent_type: str
    idempotency_key: str
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    safety_token: str | None = None


def parse_intent_body(raw: Any) -> IntentBody:
    """422 schema validation (before authentication, as on the reference server)."""
    try:
        body = msgspec.convert(raw, IntentBody)
    except msgspec.ValidationError as exc:
        raise body_error(["body"], str(exc), "value_error", raw) from None
    if not body.intent_type:
        raise body_error(
            ["body", "intent_type"], "String should have at least 1 character", "string_too_short", ""
        )
    key = body.idempotency_key
    if len(key) < 8:
        raise body_error(
            ["body", "idempotency_key"],
            "String should have at least 8 characters",
            "string_too_short",
            key,
            min_length=8,
        )
    if len(key) > 160:
        raise body_error(
            ["body", "idempotency_key"],
            "String should have at most 160 characters",
            "string_too_long",
            key,
            max_length=160,
        )
    return body


def attribution(run: Run, token: TokenRecord, key: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
    """What the backend attributes an intent to (contract §4.5.5)."""
    return {
        "execution_mode": run.execution_mode,
        "strategy_run_id": run.strategy_run_id,
        "strategy_family": run.metadata.get("strategy_family"),
        "strategy_name": run.metadata.get("strategy_name"),
        "account_scope": run.account_scope,
        "entry_surface": "algo_worker",
        "source": "algo_worker",
        "idempotency_key": key,
        "token_id": token.token_id,
        "template_id": run.template_id,
        "intent_metadata": dict(metadata or {}),
    }


def _order_of(payload: dict[str, Any]) -> dict[str, Any]:
    order = payload.get("order", payload)
    if not isinstance(order, dict):
        raise ApiError(400, "Order payload must be an object")
    return order


def _basket_of(payload: dict[str, Any]) -> dict[str, Any]:
    basket = payload.get("basket", payload)
    if not isinstance(basket, dict) or not isinstance(basket.get("orders"), list):
        raise ApiError(400, "Basket payload must contain an orders list")
    return basket


def _clean_order(order: dict[str, Any]) -> dict[str, Any]:
    # Paper ignores worker-sent attribution fields (contract §6.1).
    return {k: v for k, v in order.items() if k not in ("tag", "tags", "attribution")}


def execute_paper(
    engine: PaperEngine,
    run: Run,
    intent_type: str,
    payload: dict[str, Any],
    *,
    attrib: dict[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    """Run a paper intent on the engine; ``ValueError`` from the engine becomes 400."""
    try:
        if intent_type == "place_order":
            order = _clean_order(_order_of(payload))
            return dict(
                engine.place_order(run.account_scope, run.strategy_run_id, order, now, attribution=attrib)
            )
        if intent_type == "place_basket":
            basket = _basket_of(payload)
            orders = [_clean_order(o) for o in basket["orders"] if isinstance(o, dict)]
            all_or_none = bool(basket.get("all_or_none", False))
            if basket.get("dry_run"):
                return dict(
                    engine.preview_basket(run.account_scope, run.strategy_run_id, orders, all_or_none, now)
                )
            return dict(
                engine.place_basket(
                    run.account_scope, run.strategy_run_id, orders, all_or_none, now, attribution=attrib
                )
            )
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    raise ApiError(400, f"Unsupported intent_type '{intent_type}'")


def submit_intent(
    state: SandboxState,
    engine: PaperEngine,
    *,
    token: TokenRecord,
    run_id: str,
    body: IntentBody,
    nonce: str | None,
    now: dt.datetime,
    options_run_status: str | None = None,
) -> dict[str, Any]:
    """``POST /worker/runs/{id}/intents`` after authentication and ``intents:submit`` (§4.5.2).

    ``options_run_status`` is the status of an options run with the same id, if any (it is part
    of the safety fingerprint).
    """
    run = state.run_for(token, run_id)
    session_guard(run, nonce)
    if run.status != "open":
        raise ApiError(409, "Worker intents can only be submitted for open strategy runs")
    check_mode(token, run.execution_mode, "Worker token cannot submit intents for this execution mode")
    stored = state.intents.get((run_id, body.idempotency_key))
    if stored is not None:
        return {"status": "deduped", "result": stored}
    if body.safety_token:
        verify_token(run, body.safety_token, now, state.secret, options_run_status)
    attrib = attribution(run, token, body.idempotency_key, body.metadata)
    if run.execution_mode == "dry_run":
        result: dict[str, Any] = {
            "mode": "dry_run",
            "status": "validated",
            "intent_type": body.intent_type,
            "mutated_state": False,
            "payload": body.payload,
            "attribution": attrib,
        }
    elif run.execution_mode == "paper":
        result = execute_paper(engine, run, body.intent_type, body.payload, attrib=attrib, now=now)
        record_execution_events(state, run, result, now)
    else:
        raise ApiError(503, NO_LIVE)
    state.executions += 1
    state.store_intent(run_id, body.idempotency_key, result)
    return {"status": "accepted", "result": result}


def _orders_in(result: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(result.get("order"), dict):
        out.append(result["order"])
    for key in ("results", "errors"):
        for leg in result.get(key) or []:
            if isinstance(leg, dict) and isinstance(leg.get("order"), dict) and leg["order"] not in out:
                out.append(leg["order"])
    return out


def record_execution_events(state: SandboxState, run: Run, result: dict[str, Any], now: dt.datetime) -> None:
    """One ``execution``/``order.updated`` timeline event per order in a paper result."""
    for order in _orders_in(result):
        status = order.get("status")
        state.add_event(
            run,
            kind="execution",
            source="paper_runtime",
            event_type="order.updated",
            summary=f"{order.get('transaction_type', '')} {order.get('quantity', '')} "
            f"{order.get('tradingsymbol', '')} {status}".strip(),
            payload={"order": order},
            now=now,
            related_resource_type=None,
            related_resource_id=None,
        )
