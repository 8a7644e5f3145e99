"""Basket executions and brackets (contract §4.7, SDK 0.13), and hosted progress/notify (§4.3.4).

What the reference server answers a paper backend's workers, since none of these can hold
anything here:

* basket executions are rows of *live* baskets only ("paper baskets are not listed"): a run's
  list is empty and any id is 404 ``Basket execution not found``;
* brackets are live-only: 409 ``Bracket intents is only supported for live runs`` on paper and
  dry_run runs; a live run cannot place one (503, no broker session, as every live order path
  here), so it has none to list, read or cancel;
* progress and notify need the hosted child actions ``runs:progress`` /
  ``notifications:publish``, which no worker token carries (they are not mintable, §2.1): 403
  after body validation, as on the reference server for any external worker (and were one to
  carry them, no run here is hosted: 403 ``HOSTED_CHILD_RUN_REQUIRED`` /
  ``HOSTED_NOTIFY_UNSUPPORTED``).

Check order as everywhere: 422 body/query, 401, 403 action, 404 run, 403 access, 409 session
guard (mutations), then the rule of the route.
"""

from __future__ import annotations

from typing import Any

from ._asgi import Request, Response, Router, json_response
from ._context import AppContext
from ._errors import ApiError, body_error, rejection
from ._intents import NO_LIVE
from ._routes_runs import _nonce, _state
from ._runs import Run, session_guard

LIVE_ONLY = "Bracket intents is only supported for live runs"


def _run(request: Request, ctx: AppContext, action: str) -> Run:
    token = ctx.authenticate(request, action)
    return _state(ctx).run_for(token, request.path_params["run_id"])


def _live_brackets(run: Run) -> None:
    if run.execution_mode != "live":
        raise ApiError(409, LIVE_ONLY)


async def list_baskets(request: Request, ctx: AppContext) -> Response:
    request.q_int("limit", 100, ge=1, le=500)
    run = _run(request, ctx, "runs:read")
    return json_response({"strategy_run_id": run.strategy_run_id, "baskets": []})


async def get_basket(request: Request, ctx: AppContext) -> Response:
    _run(request, ctx, "runs:read")
    raise ApiError(404, "Basket execution not found")


def _object_field(body: dict[str, Any], name: str, *, required: bool) -> None:
    value = body.get(name)
    if value is None:
        if required:
            raise body_error(["body", name], "Field required", "missing", body)
        return
    if not isinstance(value, dict):
        raise body_error(["body", name], "Input should be a valid dictionary", "dict_type", value)


async def create_bracket(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    _object_field(body, "entry_order", required=True)
    _object_field(body, "stoploss", required=True)
    _object_field(body, "target", required=False)
    _object_field(body, "metadata", required=False)
    run = _run(request, ctx, "intents:submit")
    session_guard(run, _nonce(request))
    _live_brackets(run)
    raise ApiError(503, NO_LIVE)


async def list_brackets(request: Request, ctx: AppContext) -> Response:
    request.q_int("limit", 50, ge=1, le=200)
    run = _run(request, ctx, "runs:read")
    _live_brackets(run)
    return json_response({"strategy_run_id": run.strategy_run_id, "brackets": []})


async def get_bracket(request: Request, ctx: AppContext) -> Response:
    run = _run(request, ctx, "runs:read")
    _live_brackets(run)
    raise ApiError(404, "Bracket intent not found")


async def cancel_bracket(request: Request, ctx: AppContext) -> Response:
    await request.json(default={})
    run = _run(request, ctx, "intents:submit")
    session_guard(run, _nonce(request))
    _live_brackets(run)
    raise ApiError(404, "Bracket intent not found")


def _string(body: dict[str, Any], name: str, low: int, high: int, *, required: bool) -> None:
    value = body.get(name)
    if value is None:
        if required:
            raise body_error(["body", name], "Field required", "missing", body)
        return
    if not isinstance(value, str):
        raise body_error(["body", name], "Input should be a valid string", "string_type", value)
    if len(value) < low:
        msg = f"String should have at least {low} character{'s' if low > 1 else ''}"
        raise body_error(["body", name], msg, "string_too_short", value, min_length=low)
    if len(value) > high:
        msg = f"String should have at most {high} characters"
        raise body_error(["body", name], msg, "string_too_long", value, max_length=high)


async def run_progress(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    _string(body, "note", 0, 200, required=False)
    _run(request, ctx, "runs:progress")  # 403: no worker token carries it
    raise rejection(403, "HOSTED_CHILD_RUN_REQUIRED")  # and no run here is a hosted child


async def notify_run(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    _string(body, "text", 1, 3800, required=True)
    channels = body.get("channels")
    if not isinstance(channels, list) or not channels:
        raise body_error(["body", "channels"], "List should have at least 1 item", "too_short", channels)
    _string(body, "idempotency_key", 8, 160, required=True)
    _string(body, "subject", 0, 120, required=False)
    _run(request, ctx, "notifications:publish")  # 403: no worker token carries it
    raise rejection(403, "HOSTED_NOTIFY_UNSUPPORTED")  # and no run here is hosted


def register(router: Router) -> None:
    run = "/worker/runs/{run_id}"
    routes: list[tuple[str, str, Any]] = [
        ("GET", f"{run}/baskets", list_baskets),
        ("GET", f"{run}/baskets/{{basket_execution_id}}", get_basket),
        ("POST", f"{run}/brackets", create_bracket),
        ("GET", f"{run}/brackets", list_brackets),
        ("GET", f"{run}/brackets/{{bracket_intent_id}}", get_bracket),
        ("POST", f"{run}/brackets/{{bracket_intent_id}}/cancel", cancel_bracket),
        ("POST", f"{run}/progress", run_progress),
        ("POST", f"{run}/notify", notify_run),
    ]
    for method, path, handler in routes:
        router.add(method, path, handler)
