"""The WebSocket opener: the hub's upstream streams over the contract's §5.6 sockets.

An opener is the hub's one transport seam (``_topic.Opener``): ``opener(kind, params, after)``
returns an async context manager yielding an async iterator of payloads. The SSE opener
(``_hub.client_opener``) and this one hand over the same payloads (the client's ``client.ws``
streams decode to the SSE streams' documents, a snapshot first), so decoding, fan-out, retries
and resume markers are the hub's and the same for both.

The sockets are opened without the client's own ``reconnect``: every failure reaches the hub,
which classifies it once (``classify_error``) and retries with its backoff, as for SSE. §5.6 has
no timeline socket: timeline topics stream over SSE with either transport. The resume point is
the same as on SSE: the first message of a new socket is a whole snapshot.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

from ._topic import Opener

__all__ = ["HubTransport", "ws_opener"]

HubTransport = Literal["sse", "websocket"]


def ws_opener(client: Any) -> Opener:
    """Streams of an ``AsyncKiteAlgoWorkerClient`` over its WebSockets (``client.ws``); the idle
    limit is the client's: a quiet socket is pinged, one that answers no ping is a failure."""

    def open_(kind: str, p: dict[str, Any], after: int | None) -> AbstractAsyncContextManager[Any]:
        if kind == "ticks":
            return client.ws.stream_ticks(p["instruments"], mode=p["mode"])  # type: ignore[no-any-return]
        if kind == "candles":
            return client.ws.stream_candles(p["instrument"], interval=p["interval"])  # type: ignore[no-any-return]
        if kind == "pnl":
            return client.ws.stream_run_pnl(p["run_id"], interval_seconds=p["interval"])  # type: ignore[no-any-return]
        return client.stream_timeline(p["run_id"], after_cursor=after or 0)  # type: ignore[no-any-return]

    return open_
