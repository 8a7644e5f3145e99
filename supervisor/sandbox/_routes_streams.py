"""SSE routes for run P&L and the run timeline (contract §5.1, §5.2).

Framing: ``data: <one-line JSON>\\n\\n``, ``event: error|end`` for terminal conditions, and
``: heartbeat\\n\\n`` keep-alives at most every 15 s. Validation, authentication and the run
lookup happen before the stream starts, so they fail as ordinary JSON errors.

The timeline stream keeps no per-subscriber queue: it remembers the last cursor it sent and, when
woken by the change signal, re-reads newer events from the state. A slow client therefore never
buffers unboundedly on the server and never misses events (bounded by the state itself).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio

from ._asgi import Request, Response, Router, dumps, sse_response
from ._context import AppContext
from ._portfolio import run_pnl
from ._routes_runs import _state, execution_filters, execution_view, timeline_filters

KEEPALIVE = b": heartbeat\n\n"
KEEPALIVE_GAP_S = 15.0


def sse_data(obj: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n".encode() if event else b""
    return prefix + b"data: " + dumps(obj) + b"\n\n"


async def pnl_stream(request: Request, ctx: AppContext) -> Response:
    interval = request.q_float("interval_seconds", 1.0, ge=0.25, le=5.0) or 1.0
    token = ctx.authenticate(request, "runs:read")
    state = _state(ctx)
    run_id = request.path_params["run_id"]
    state.run_for(token, run_id)
    quiet_limit = max(1, int(15 / interval))

    async def events() -> AsyncIterator[bytes]:
        last: bytes | None = None
        unchanged = 0
        while True:
            run = state.runs.get(run_id)
            if run is None:
                yield sse_data({"detail": "Strategy run not found"}, "end")
                return
            try:
                snapshot = run_pnl(ctx.engine, run, ctx.now())
            except Exception as exc:  # reported in-band; the loop continues (contract §5.2)
                yield sse_data({"detail": str(getattr(exc, "detail", exc))}, "error")
            else:
                # Compare without updated_at so that an unchanged position is not resent.
                canonical = dumps({k: v for k, v in snapshot.items() if k != "updated_at"})
                if canonical != last:
                    last = canonical
                    unchanged = 0
                    yield sse_data(snapshot)
                else:
                    unchanged += 1
                    if unchanged >= quiet_limit:
                        unchanged = 0
                        yield KEEPALIVE
            await anyio.sleep(interval)

    return sse_response(events())


async def timeline_stream(request: Request, ctx: AppContext) -> Response:
    return await _event_stream(request, ctx, timeline_filters(request), None)


async def execution_stream(request: Request, ctx: AppContext) -> Response:
    return await _event_stream(request, ctx, execution_filters(request), execution_view)


async def _event_stream(
    request: Request,
    ctx: AppContext,
    filters: dict[str, str],
    view: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> Response:
    after = request.q_int("after_cursor", 0, ge=0) or 0
    limit = request.q_int("limit", 500, ge=1, le=2000) or 500
    token = ctx.authenticate(request, "runs:read")
    state = _state(ctx)
    run = state.run_for(token, request.path_params["run_id"])
    run_id = run.strategy_run_id
    signal = ctx.timeline_signal

    def frame(event: dict[str, Any]) -> bytes:
        return sse_data(view(event) if view is not None else event)

    async def events() -> AsyncIterator[bytes]:
        seen = signal.generation  # subscribe before reading the backfill: nothing is lost
        backfill = state.timeline.query(run_id, after, limit, filters)
        last = after
        for event in backfill:
            last = max(last, int(event["cursor"]))
            yield frame(event)
        # Live: like the reference server, skip whatever the capped backfill left behind.
        last = max(last, _newest(ctx, run_id)) if len(backfill) >= limit else last
        while True:
            with anyio.move_on_after(KEEPALIVE_GAP_S) as scope:
                await signal.wait_after(seen)
            if scope.cancelled_caught:
                yield KEEPALIVE
                continue
            seen = signal.generation
            for event in _state(ctx).timeline.query(run_id, last, 10_000, filters):
                last = max(last, int(event["cursor"]))
                yield frame(event)

    return sse_response(events(), stream_headers=False)


def _newest(ctx: AppContext, run_id: str) -> int:
    events = _state(ctx).timeline.by_run.get(run_id) or []
    return int(events[-1]["cursor"]) if events else 0


def register(router: Router) -> None:
    router.add("GET", "/worker/runs/{run_id}/pnl/stream", pnl_stream)
    router.add("GET", "/worker/runs/{run_id}/timeline/stream", timeline_stream)
    router.add("GET", "/worker/runs/{run_id}/execution-events/stream", execution_stream)
