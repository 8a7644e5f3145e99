"""An httpx transport that serves requests from an ASGI app in the same trio run.

The backtest's seam: the daemon's clients talk to the sandbox's app with no socket, so that
the whole run lives on trio's virtual clock and costs no syscalls. It has no counterpart in
production (live, the transport is httpx's own).

Why not ``httpx.ASGITransport``: it collects the whole response body before returning, so an
SSE stream (ticks, candles, timeline), which never ends, would never return.

Each request runs the app in a task of the transport's nursery (:func:`open_in_process_client`
owns it); the app's ``send`` messages travel through a bounded memory channel
(:data:`BODY_BUFFER` messages; when full the app waits, as a server waits on a full socket), and
the response body is read from it as it comes. Closing the response (or cancelling the reader
while it waits for the response head) cancels the app's task. An app that fails or ends
without finishing its response is seen by the client as a broken connection
(``httpx.RemoteProtocolError``), as a server crash would be.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import trio

from supervisor._daemon import ClientFactory, RequestObserver
from supervisor._httpmetrics import ObservingTransport
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.client._rate_limit import OrderRateLimiter

__all__ = ["BODY_BUFFER", "InProcessTransport", "in_process_client_factory", "open_in_process_client"]

log = logging.getLogger("supervisor.backtest")

BODY_BUFFER = 64  # ASGI messages in flight per response
Message = MutableMapping[str, Any]
AsgiApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


class _Body(httpx.AsyncByteStream):
    def __init__(self, messages: trio.MemoryReceiveChannel[Message], app_scope: trio.CancelScope) -> None:
        self._messages = messages
        self._app_scope = app_scope

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            try:
                message = await self._messages.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                raise httpx.RemoteProtocolError("the in-process app ended its response unfinished") from None
            if message.get("type") != "http.response.body":
                continue
            chunk: bytes = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    async def aclose(self) -> None:
        self._app_scope.cancel()
        self._messages.close()


class InProcessTransport(httpx.AsyncBaseTransport):
    """Serves each request from ``app`` in a task of ``nursery`` (module docstring)."""

    def __init__(self, app: AsgiApp, nursery: trio.Nursery) -> None:
        self._app = app
        self._nursery = nursery
        self.requests = 0  # served so far (the bench's event count)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        url = request.url
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "server": (url.host, url.port or 80),
            "client": ("127.0.0.1", 0),
        }
        sent_body = False
        disconnected = trio.Event()

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        outbox, messages = trio.open_memory_channel[Message](BODY_BUFFER)
        app_scope = trio.CancelScope()

        async def serve() -> None:
            with app_scope, outbox:
                try:
                    await self._app(scope, receive, outbox.send)
                except Exception as exc:  # the seam: an app failure is a broken connection
                    log.debug("in-process app failed on %s %s: %r", request.method, url.path, exc)

        self.requests += 1
        self._nursery.start_soon(serve)
        try:
            head = await messages.receive()
        except trio.EndOfChannel:
            raise httpx.RemoteProtocolError("the in-process app sent no response") from None
        except BaseException:
            app_scope.cancel()  # the caller gave up (cancelled): so does the app
            raise
        headers = [(k, v) for k, v in head.get("headers", [])]
        return httpx.Response(
            head["status"], headers=headers, stream=_Body(messages, app_scope), request=request
        )


def in_process_client_factory(
    app: AsgiApp, transports: list[InProcessTransport] | None = None
) -> ClientFactory:
    """A client factory for ``run_daemon`` (its ``ClientFactory`` protocol) whose clients talk
    to ``app`` in-process; each transport made is appended to ``transports`` (for counts)."""

    def factory(
        base_url: str,
        token: str,
        timeout: float,
        *,
        observe: RequestObserver | None = None,
        order_limiter: OrderRateLimiter | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> AbstractAsyncContextManager[AsyncKiteAlgoWorkerClient]:
        return open_in_process_client(
            app,
            base_url,
            token,
            timeout,
            observe=observe,
            order_limiter=order_limiter,
            transports=transports,
            wall_clock=wall_clock,
        )

    return factory


@asynccontextmanager
async def open_in_process_client(
    app: AsgiApp,
    base_url: str,
    token: str,
    timeout: float,
    *,
    observe: RequestObserver | None = None,
    order_limiter: OrderRateLimiter | None = None,
    transports: list[InProcessTransport] | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    """A worker client whose requests ``app`` serves in-process; the app tasks of requests
    still open (streams) are cancelled on exit."""
    async with trio.open_nursery() as nursery:
        inner = InProcessTransport(app, nursery)
        if transports is not None:
            transports.append(inner)
        transport: httpx.AsyncBaseTransport = inner if observe is None else ObservingTransport(inner, observe)
        config = AlgoWorkerConfig(base_url=base_url, token=token, timeout=timeout)
        async with AsyncKiteAlgoWorkerClient(
            config, transport=transport, order_limiter=order_limiter, wall_clock=wall_clock
        ) as client:
            yield client
        nursery.cancel_scope.cancel()
