"""SSE streams (contract §5): async context managers yielding async iterators of payloads.

The bytes are decoded by the sans-IO :class:`SSEDecoder` and interpreted by :func:`interpret`
(``event: error`` → ``StreamError``, ``event: end`` → iteration stops). An idle timer is reset
by every received byte, keep-alive comments included; it defaults to 30 s, twice the server's
≈15 s keep-alive gap, and raises ``StreamIdleTimeout``. A server closing the stream without
``event: end`` raises ``StreamDisconnectedError``.

:func:`follow_timeline` is the reconnecting consumer: it resumes from the last cursor seen, with
:class:`Backoff` between attempts, and never yields an event twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import trio

from ._backoff import Backoff
from ._endpoints import Endpoint
from ._errors import (
    ErrorClass,
    KiteAlgoWorkerError,
    StreamDisconnectedError,
    StreamIdleTimeout,
    classify_error,
    retry_after_hint,
)
from ._models import to_doc
from ._pipeline import Pipeline
from ._sse import SSEDecoder, SSEEnd, SSEMessage, interpret

__all__ = ["DEFAULT_IDLE_TIMEOUT", "EventStream", "follow_timeline", "open_event_stream"]

DEFAULT_IDLE_TIMEOUT = 30.0


class EventStream:
    """Async iterator over one open SSE response. ``__anext__`` blocks until a payload
    arrives; raises ``StreamIdleTimeout``, ``StreamError``, ``StreamDisconnectedError``."""

    def __init__(
        self,
        response: httpx.Response,
        route: str,
        idle_timeout: float,
        shape: Callable[[Any], Any] | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self._chunks = response.aiter_raw()
        self._secrets = tuple(secrets)
        self._route = route
        self._idle = idle_timeout
        self._shape = shape
        self._decoder = SSEDecoder()
        self._pending: deque[Any] = deque()
        self._ended = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            while self._pending:
                item = self._pending.popleft()
                if not isinstance(item, SSEMessage):
                    continue  # comments only reset the idle timer
                result = interpret(item, route=self._route, secrets=self._secrets)
                if isinstance(result, SSEEnd):
                    self._ended = True
                    self._pending.clear()
                    raise StopAsyncIteration
                if result is not None:
                    payload = to_doc(result.payload)
                    return self._shape(payload) if self._shape is not None else payload
            if self._ended:
                raise StopAsyncIteration
            with trio.move_on_after(self._idle) as scope:
                try:
                    chunk = await self._chunks.__anext__()
                except StopAsyncIteration:
                    self._ended = True
                    self._pending.extend(self._decoder.close())
                    if not any(isinstance(i, SSEMessage) for i in self._pending):
                        raise StreamDisconnectedError(
                            f"stream {self._route} closed without an end event"
                        ) from None
                    continue
                except httpx.HTTPError as exc:
                    raise StreamDisconnectedError(f"stream {self._route}: {type(exc).__name__}") from exc
            if scope.cancelled_caught:
                raise StreamIdleTimeout(f"stream {self._route}: nothing received for {self._idle:g} s")
            self._pending.extend(self._decoder.feed(chunk))


@asynccontextmanager
async def open_event_stream(
    pipeline: Pipeline,
    endpoint: Endpoint,
    path_params: Mapping[str, object] | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    shape: Callable[[Any], Any] | None = None,
) -> AsyncIterator[EventStream]:
    """Open the stream (status checked first) and yield its payload iterator; ``shape``, if
    given, adjusts each payload before it is handed out."""
    async with pipeline.open_stream(endpoint, path_params, params=params) as response:
        secrets = (pipeline.config.token.get_secret_value(),)
        yield EventStream(response, endpoint.path, idle_timeout, shape, secrets)


async def follow_timeline(
    open_stream: Callable[[int], AbstractAsyncContextManager[AsyncIterator[Any]]],
    *,
    after_cursor: int = 0,
    backoff: Backoff | None = None,
    max_attempts: int | None = None,
) -> AsyncIterator[Any]:
    """Yield timeline events forever, reconnecting after transient failures.

    ``open_stream(cursor)`` opens a timeline stream after ``cursor``. Transient errors (as
    :func:`classify_error` decides: transport, 5xx, 429) are retried after
    ``backoff.next_delay()``, at least the server's ``Retry-After``; a delivered event resets
    the backoff. Raises the last of them after ``max_attempts`` consecutive failures (None =
    never give up). Permanent errors (401/403/404, other 4xx) are raised at once.
    """
    delays = backoff or Backoff(initial=0.5, maximum=30.0)
    cursor = after_cursor
    failures = 0
    while True:
        try:
            async with open_stream(cursor) as events:
                async for event in events:
                    value = event.get("cursor") if isinstance(event, Mapping) else None
                    if isinstance(value, int):
                        if value <= cursor:
                            continue  # duplicate after a reconnect
                        cursor = value
                    failures = 0
                    delays.reset()
                    yield event
            raise StreamDisconnectedError("timeline stream ended")
        except KiteAlgoWorkerError as exc:
            if classify_error(exc) is not ErrorClass.TRANSIENT:
                raise
            failures += 1
            if max_attempts is not None and failures >= max_attempts:
                raise
            await trio.sleep(delays.next_delay(retry_after_hint(exc)))
