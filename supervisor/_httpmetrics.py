"""Backend request duration without touching the client: an observing httpx transport.

``ObservingTransport(inner, observe)`` wraps any ``httpx.AsyncBaseTransport`` and calls
``observe(route_group, status_class, seconds)`` once per request, timed until the response
headers arrive (for SSE streams: until the stream is established, not its whole life). Pass it
as the client's ``transport=`` (the worker client's test seam) with
``observe=SupervisorMetrics.observe_request``. A request that raises is observed with status
class ``"error"`` and the exception propagates unchanged.

:func:`route_group` is pure: it maps a worker-API path to one of a fixed set of groups, so ids in
paths (run ids, order ids) never become label values.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

__all__ = ["ObservingTransport", "route_group"]

_STREAM_SUFFIX = "/stream"


def route_group(method: str, path: str) -> str:
    """``runs``, ``sessions``, ``heartbeat``, ``orders``, ``market``, ``streams`` or ``other``."""
    tail = path.split("/worker/", 1)[1] if "/worker/" in path else path.lstrip("/")
    tail = tail.split("?", 1)[0].rstrip("/")
    parts = tail.split("/")
    if tail.endswith(_STREAM_SUFFIX):
        return "streams"
    if parts[0] == "heartbeat" or (parts[0] == "runs" and parts[-1] in ("heartbeat", "progress")):
        return "heartbeat"
    if parts[0] == "runs" and parts[-1] == "claim-session":
        return "sessions"
    if parts[0] == "orders" or (
        parts[0] == "runs" and len(parts) >= 3 and parts[2] in ("intents", "preview", "exit")
    ):
        return "orders"
    if parts[0] == "market":
        return "market"
    if parts[0] == "runs":
        return "runs"
    return "other"


class ObservingTransport(httpx.AsyncBaseTransport):
    """Times each request through ``inner``; never changes requests or responses."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        observe: Callable[[str, int | str | None, float], None],
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._inner = inner
        self._observe = observe
        self._clock = clock

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        group = route_group(request.method, request.url.path)
        started = self._clock()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._observe(group, None, self._clock() - started)
            raise
        self._observe(group, response.status_code, self._clock() - started)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
