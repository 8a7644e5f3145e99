"""WebSocket routes (contract §5.6): run P&L, ticks and candles as JSON text messages.

Each socket opens the same event source as its SSE route (``_routes_streams.open_*``), so it
validates, authenticates and streams exactly as that route does; only the framing differs:
every event is one text message ``{"event": <name>, "data": <payload>}``, the P&L snapshot
(unnamed on SSE) is ``snapshot``, and the ≈15 s keep-alive is a ``heartbeat`` message
``{"strategy_run_id"}`` on the P&L socket and nothing on the market sockets (§5.6 lists no
heartbeat for them; a client probes those with a WebSocket ping, which hypercorn answers).

The token comes in the query (``?token=``, §2.1) and is handed to the shared authentication as
the ``Authorization`` header every other route reads. Refusals are close codes (README choice
18): 4401 no, unknown or expired token; 4403 an action or run the token may not use; 4404 an
unknown run or instrument; 4400 a bad query value; 1013 while the sandbox restarts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from ._asgi import Request, Response, Router, dumps, ws_response
from ._context import AppContext
from ._errors import ApiError
from ._routes_streams import KEEP_ALIVE, EventSource, open_candles, open_pnl, open_ticks


def _token_from_query(request: Request) -> None:
    """Move ``?token=`` into ``Authorization``; refuse (4401) without one."""
    token = (request.q("token") or "").strip()
    if not token:
        raise ApiError(401, "Worker websocket token required")
    request.headers["authorization"] = f"Bearer {token}"


async def ws_messages(events: EventSource, *, heartbeat: Any = None) -> AsyncIterator[bytes]:
    """``events`` as §5.6 messages; a keep-alive becomes ``heartbeat`` when given, else nothing.
    Closing this closes ``events``."""
    async with aclosing(events):
        async for event in events:
            if event is KEEP_ALIVE:
                if heartbeat is not None:
                    yield dumps({"event": "heartbeat", "data": heartbeat})
                continue
            yield dumps({"event": event.name or "snapshot", "data": event.data})


async def ws_ticks(request: Request, ctx: AppContext) -> Response:
    _token_from_query(request)
    return ws_response(ws_messages(open_ticks(request, ctx)))


async def ws_candles(request: Request, ctx: AppContext) -> Response:
    _token_from_query(request)
    return ws_response(ws_messages(open_candles(request, ctx)))


async def ws_run_pnl(request: Request, ctx: AppContext) -> Response:
    _token_from_query(request)
    events = open_pnl(request, ctx)
    return ws_response(ws_messages(events, heartbeat={"strategy_run_id": request.path_params["run_id"]}))


def register(router: Router) -> None:
    router.add_websocket("/worker/ws/market/ticks", ws_ticks)
    router.add_websocket("/worker/ws/market/candles", ws_candles)
    router.add_websocket("/worker/ws/runs/{run_id}/pnl", ws_run_pnl)
