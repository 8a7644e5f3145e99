"""The streams (contract §5): what each one says, and its SSE routes (§5.1, §5.2).

A stream's ``open_*`` function validates the query, authenticates and looks the run or
instruments up, raising ``ApiError`` before anything is sent, and returns an async generator of
:class:`StreamEvent`. This module frames those events as SSE (``data: <one-line JSON>\\n\\n``,
``event: <name>`` for named ones, ``: heartbeat\\n\\n`` for :data:`KEEP_ALIVE`); the
WebSocket routes (``_routes_ws``, §5.6) frame the very same events as JSON text messages, so the
two transports cannot drift apart.

The timeline stream keeps no per-subscriber queue: it remembers the last cursor it sent and, when
woken by the change signal, re-reads newer events from the state. A slow client therefore never
buffers unboundedly on the server and never misses events (bounded by the state itself). The
market streams likewise skip ahead: a slow reader gets, in one event, everything that stepped
since its last one.

With ``--tick-phases K`` a tick stream sends one ``ticks`` event per phase step holding only the
instruments of that phase (none when it has none of them); a candle stream updates at its
instrument's phase.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, NamedTuple

import anyio

from ._asgi import Request, Response, Router, dumps, sse_response
from ._context import AppContext
from ._errors import ApiError
from ._portfolio import run_pnl
from ._routes_market import _instrument_param, _interval, _quotes, candles_object
from ._routes_runs import _state, execution_filters, execution_view, timeline_filters

KEEPALIVE = b": heartbeat\n\n"
KEEPALIVE_GAP_S = 15.0


class StreamEvent(NamedTuple):
    """One message of a stream: ``name`` (None for the P&L snapshot, unnamed on SSE) and data."""

    name: str | None
    data: Any


KEEP_ALIVE = StreamEvent("heartbeat", None)
"""≈15 s without a message (§5.2): an SSE comment, a ``heartbeat`` message on the P&L socket."""

EventSource = AsyncGenerator[StreamEvent, None]


def sse_data(obj: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n".encode() if event else b""
    return prefix + b"data: " + dumps(obj) + b"\n\n"


async def sse_frames(events: EventSource) -> AsyncIterator[bytes]:
    """``events`` as SSE bytes (§5.1); closing this closes ``events``."""
    async with aclosing(events):
        async for event in events:
            yield KEEPALIVE if event is KEEP_ALIVE else sse_data(event.data, event.name)


# -- run P&L --------------------------------------------------------------------------------------


def open_pnl(request: Request, ctx: AppContext) -> EventSource:
    """The P&L stream of ``{run_id}`` (``interval_seconds`` 0.25..5.0, ``runs:read``)."""
    interval = request.q_float("interval_seconds", 1.0, ge=0.25, le=5.0) or 1.0
    token = ctx.authenticate(request, "runs:read")
    run_id = request.path_params["run_id"]
    _state(ctx).run_for(token, run_id)
    return _pnl_events(ctx, run_id, interval)


async def _pnl_events(ctx: AppContext, run_id: str, interval: float) -> EventSource:
    state = _state(ctx)
    quiet_limit = max(1, int(15 / interval))
    last: bytes | None = None
    unchanged = 0
    while True:
        run = state.runs.get(run_id)
        if run is None:
            yield StreamEvent("end", {"detail": "Strategy run not found"})
            return
        try:
            snapshot = run_pnl(ctx.engine, run, ctx.now())
        except Exception as exc:  # reported in-band; the loop continues (contract §5.2)
            yield StreamEvent("error", {"detail": str(getattr(exc, "detail", exc))})
        else:
            # Compare without updated_at so that an unchanged position is not resent.
            canonical = dumps({k: v for k, v in snapshot.items() if k != "updated_at"})
            if canonical != last:
                last = canonical
                unchanged = 0
                yield StreamEvent(None, snapshot)
            else:
                unchanged += 1
                if unchanged >= quiet_limit:
                    unchanged = 0
                    yield KEEP_ALIVE
        await anyio.sleep(interval)


async def pnl_stream(request: Request, ctx: AppContext) -> Response:
    return sse_response(sse_frames(open_pnl(request, ctx)))


# -- market ticks and candles ---------------------------------------------------------------------


class _MarketSteps:
    """Market steps as one stream sees them, counted from when it was made."""

    def __init__(self, ctx: AppContext) -> None:
        self._signal, self._market = ctx.tick_signal, ctx.market
        self._seen, self._steps_seen = self._signal.generation, self._market.steps

    async def next(self) -> frozenset[int] | None:
        """The phases stepped since the last call, or ``None`` after 15 quiet seconds (the
        stream's keep-alive, §5.1)."""
        with anyio.move_on_after(KEEPALIVE_GAP_S) as scope:
            await self._signal.wait_after(self._seen)
        if scope.cancelled_caught:
            return None
        self._seen = self._signal.generation
        stepped = self._market.stepped_phases(self._steps_seen)
        self._steps_seen = self._market.steps
        return stepped


def open_ticks(request: Request, ctx: AppContext) -> EventSource:
    """The tick stream of ``symbols``/``tokens`` in ``mode`` (``market:stream``)."""
    mode = request.q("mode") or "quote"
    items: list[str | int] = [s.strip() for s in (request.q("symbols") or "").split(",") if s.strip()]
    ctx.authenticate(request, "market:stream")
    # the reference server parses the token list after authentication, with string details
    for raw in (request.q("tokens") or "").split(","):
        if raw.strip():
            try:
                token = int(raw)
            except ValueError:
                raise ApiError(422, "tokens must contain comma-separated integers") from None
            if not 1 <= token <= 9_999_999_999:
                raise ApiError(422, "tokens contains an out-of-range instrument token")
            items.append(token)
    return _tick_events(ctx, items, mode)


async def _tick_events(ctx: AppContext, items: list[str | int], mode: str) -> EventSource:
    if mode not in ("ltp", "quote", "full"):
        yield StreamEvent("error", {"detail": "mode must be one of ltp, quote, full"})
        return
    instruments = [i for i in (ctx.market.resolve(item) for item in items) if i is not None]
    if not instruments:
        yield StreamEvent("error", {"detail": "At least one valid symbol or instrument token is required"})
        return
    market = ctx.market
    phased = [(market.phase_of(i.instrument_token), i) for i in instruments]
    steps = _MarketSteps(ctx)  # from before the snapshot: no step falls between the two
    yield StreamEvent("snapshot", _quotes(ctx, items, mode, ctx.now()))
    while True:
        stepped = await steps.next()
        if stepped is None:
            yield KEEP_ALIVE
            continue
        # --tick-phases: only the instruments whose phase stepped since the last event
        now = ctx.now()
        quote = ctx.quotes.get
        ticks = [quote(market, i, mode, now) for phase, i in phased if phase in stepped]
        if ticks:
            yield StreamEvent("ticks", {"ticks": ticks})


def open_candles(request: Request, ctx: AppContext) -> EventSource:
    """The candle stream of ``symbol``/``instrument_token`` at ``interval`` (``market:stream``)."""
    interval = _interval(request.q("interval"), "5minute")
    asked = request.q("interval") or "5minute"  # echoed as asked (reference server)
    ctx.authenticate(request, "market:stream")
    instrument = _instrument_param(request, ctx)
    return _candle_events(ctx, instrument, interval, asked)


async def _candle_events(ctx: AppContext, instrument: Any, interval: str, asked: str) -> EventSource:
    phase = ctx.market.phase_of(instrument.instrument_token)
    steps = _MarketSteps(ctx)
    yield StreamEvent("snapshot", candles_object(ctx, instrument, interval, 1, ctx.now(), asked=asked))
    while True:
        stepped = await steps.next()
        if stepped is None:
            yield KEEP_ALIVE
            continue
        if phase not in stepped:
            continue  # --tick-phases: the instrument has not ticked yet
        current = candles_object(ctx, instrument, interval, 0, ctx.now())["current"]
        if current is None:
            continue  # a backtest's instrument without data: nothing to show
        candle = {
            "symbol": instrument.key,
            "instrument_token": instrument.instrument_token,
            "interval": asked,
            "candle": current,
        }
        yield StreamEvent("candle", candle)


async def ticks_stream(request: Request, ctx: AppContext) -> Response:
    return sse_response(sse_frames(open_ticks(request, ctx)))


async def candles_stream(request: Request, ctx: AppContext) -> Response:
    return sse_response(sse_frames(open_candles(request, ctx)))


# -- timeline and execution events ----------------------------------------------------------------


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
    router.add("GET", "/worker/market/ticks/stream", ticks_stream)
    router.add("GET", "/worker/market/candles/stream", candles_stream)
    router.add("GET", "/worker/runs/{run_id}/timeline/stream", timeline_stream)
    router.add("GET", "/worker/runs/{run_id}/execution-events/stream", execution_stream)
