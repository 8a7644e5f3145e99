"""Fault injection for reliability tests: latency, error statuses, stalled/dropped streams, restarts.

Use it from tests through ``SandboxHandle.faults`` or over HTTP under ``/__sandbox__`` (any valid
worker token in ``Authorization``)::

    handle.faults.add(path="/worker/runs/*/heartbeat", status=503, times=2)
    handle.faults.add(path="/worker/market/*", status=429, retry_after_s=3)  # with Retry-After
    handle.faults.add(path="/worker/market/ticks/stream", stream="drop", after_chunks=3)
    await handle.faults.restart(downtime_s=5)   # drop streams, answer 503 for 5 s, reload the DB

Rules match the HTTP method (``"*"`` = any) and a glob on the path relative to the API prefix.
A rule fires at most ``times`` times (None = forever). Stream rules act on streaming responses:
``stall`` stops sending after ``after_chunks`` chunks but keeps the connection open; ``drop``
aborts the connection after ``after_chunks`` chunks.
"""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any

import anyio

from ._asgi import HTTPError, Request, Response, Route, Router, StreamDropped, json_response
from ._errors import ApiError


@dataclass
class FaultRule:
    """One injected fault (see module docstring)."""

    id: int
    path: str = "*"
    method: str = "*"
    latency_s: float = 0.0
    status: int | None = None
    detail: Any = "Injected fault"
    times: int | None = None
    stream: str | None = None  # "stall" | "drop"
    after_chunks: int = 0
    retry_after_s: float | None = None  # sent as Retry-After with ``status``
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method) and fnmatch.fnmatchcase(path, self.path)

    def take(self) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "latency_s": self.latency_s,
            "status": self.status,
            "detail": self.detail,
            "times": self.times,
            "stream": self.stream,
            "after_chunks": self.after_chunks,
            "retry_after_s": self.retry_after_s,
            "fired": self.fired,
        }


class Faults:
    """The fault table and the restart switch; the app consults it on every API request."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._drop = anyio.Event()
        self._down_until: float | None = None
        self.restarts = 0
        # set by the server: reloads state from the store (no-op without --db)
        self.reload: Callable[[], None] = lambda: None

    def add(
        self,
        *,
        path: str = "*",
        method: str = "*",
        latency_s: float = 0.0,
        status: int | None = None,
        detail: Any = "Injected fault",
        times: int | None = None,
        stream: str | None = None,
        after_chunks: int = 0,
        retry_after_s: float | None = None,
    ) -> FaultRule:
        """Add a rule; returns it (``rule.fired`` counts how often it acted). Never blocks."""
        if stream not in (None, "stall", "drop"):
            raise ValueError("stream must be 'stall' or 'drop'")
        rule = FaultRule(
            next(self._ids), path, method, latency_s, status, detail, times, stream, after_chunks
        )
        rule.retry_after_s = retry_after_s
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> None:
        self.rules = [r for r in self.rules if r.id != rule_id]

    def clear(self) -> None:
        self.rules.clear()
        self._down_until = None

    async def restart(self, downtime_s: float = 0.0) -> None:
        """Simulate a backend restart: drop every open stream, answer 503 for ``downtime_s``
        seconds, and reload the state from SQLite (when persistent). Returns immediately."""
        self.restarts += 1
        self._drop.set()
        self._drop = anyio.Event()
        self._down_until = anyio.current_time() + downtime_s if downtime_s > 0 else None
        self.reload()

    # -- RequestHook -------------------------------------------------------------------------
    async def before(self, request: Request, route: Route) -> Response | None:
        if self._down_until is not None:
            if anyio.current_time() < self._down_until:
                return json_response({"detail": "Service restarting"}, status=503)
            self._down_until = None
        for rule in list(self.rules):
            if rule.stream is not None or not rule.matches(request.method, request.path):
                continue
            if not rule.take():
                continue
            if rule.latency_s > 0:
                await anyio.sleep(rule.latency_s)
            if rule.status is not None:
                headers = {} if rule.retry_after_s is None else {"Retry-After": f"{rule.retry_after_s:g}"}
                return json_response({"detail": rule.detail}, status=rule.status, headers=headers)
        return None

    def wrap_stream(
        self, request: Request, route: Route, stream: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        for rule in self.rules:
            if rule.stream is not None and rule.matches(request.method, request.path) and rule.take():
                return _faulty(stream, rule)
        return stream

    async def wait_drop(self) -> None:
        await self._drop.wait()


async def _faulty(stream: AsyncIterator[bytes], rule: FaultRule) -> AsyncIterator[bytes]:
    sent = 0
    async for chunk in stream:
        if sent >= rule.after_chunks:
            break
        yield chunk
        sent += 1
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
    if rule.stream == "drop":
        raise StreamDropped("fault: drop")
    await anyio.sleep_forever()


# -- HTTP testing API under /__sandbox__ ---------------------------------------------------------


def _auth(request: Request, ctx: Any) -> None:
    ctx.authenticate(request)


def _faults_of(ctx: Any) -> Faults:
    faults = ctx.faults
    if not isinstance(faults, Faults):
        raise HTTPError(503, "Fault injection is not enabled")
    return faults


async def _add_fault(request: Request, ctx: Any) -> Response:
    _auth(request, ctx)
    body = await request.json_object()
    allowed = {f.name for f in fields(FaultRule)} - {"id", "fired"}
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(422, f"Unknown fault fields: {', '.join(sorted(unknown))}")
    try:
        rule = _faults_of(ctx).add(**body)
    except (TypeError, ValueError) as exc:
        raise ApiError(422, str(exc)) from None
    return json_response(rule.as_dict())


async def _list_faults(request: Request, ctx: Any) -> Response:
    _auth(request, ctx)
    return json_response({"faults": [r.as_dict() for r in _faults_of(ctx).rules]})


async def _clear_faults(request: Request, ctx: Any) -> Response:
    _auth(request, ctx)
    _faults_of(ctx).clear()
    return json_response({"status": "cleared"})


async def _restart(request: Request, ctx: Any) -> Response:
    _auth(request, ctx)
    body = await request.json_object()
    downtime = body.get("downtime_s", 0.0)
    if not isinstance(downtime, int | float) or downtime < 0:
        raise ApiError(422, "downtime_s must be a number >= 0")
    await _faults_of(ctx).restart(float(downtime))
    return json_response({"status": "restarted", "downtime_s": downtime})


async def _mint(request: Request, ctx: Any) -> Response:
    _auth(request, ctx)
    body = await request.json_object()
    mint: Callable[..., str] = ctx.extras["mint_token"]
    try:
        token = mint(**body)
    except TypeError as exc:
        raise ApiError(422, str(exc)) from None
    return json_response({"token": token})


async def _steal(request: Request, ctx: Any) -> Response:
    _auth(request, ctx)
    from ._server import steal_session

    run_id = request.path_params["run_id"]
    if run_id not in ctx.state.runs:
        raise ApiError(404, "Strategy run not found")
    return json_response({"strategy_run_id": run_id, "worker_session_nonce": steal_session(ctx, run_id)})


async def _summary(request: Request, ctx: Any) -> Response:
    _auth(request, ctx)
    state = ctx.state
    return json_response(
        {
            "runs": len(state.runs),
            "intents": len(state.intents),
            "timeline_events": len(state.timeline.events),
            "last_cursor": state.timeline.last_cursor,
            "now": ctx.now().isoformat(),
        }
    )


def register_testing_routes(router: Router) -> None:
    routes: list[tuple[str, str, Callable[[Request, Any], Awaitable[Response]]]] = [
        ("POST", "/faults", _add_fault),
        ("GET", "/faults", _list_faults),
        ("DELETE", "/faults", _clear_faults),
        ("POST", "/restart", _restart),
        ("POST", "/tokens", _mint),
        ("GET", "/state", _summary),
        ("POST", "/runs/{run_id}/steal-session", _steal),
    ]
    for method, path, handler in routes:
        router.add(method, path, handler)
