"""The sandbox's HTTP and WebSocket layer on Starlette: handler shape, requests, responses, errors.

The real backend is FastAPI (on Starlette); the sandbox takes Starlette's routing, requests,
responses, WebSockets, exception handling and body limit, and adds only what the worker API
needs on the wire (contract §1.4 error bodies, §5.1 SSE framing, §5.6 WebSocket close codes).
Starlette is anyio-based, so the same application runs under hypercorn's trio worker and under
asyncio/uvloop standalone (and in-process, on the backtest's transport).

Pieces:

* ``Router`` collects ``(method, "/worker/runs/{run_id}/intents")`` templates with handlers
  ``async def handler(request, ctx) -> Response``; ``starlette_app`` turns it into Starlette
  routes mounted at the API prefix, each handler bound to the shared ``ctx``.
* ``Request`` is Starlette's request with ``path`` (relative to the mount), ``query``
  (``dict[str, list[str]]``), typed query helpers that raise FastAPI-style 422 errors, a msgspec
  ``json()`` (bad JSON is a 422) and mutable headers (a WebSocket's ``?token=``).
* ``json_response``, ``sse_response`` and ``HTTPError`` build responses; ``validation_error``
  builds the 422 list form ``{"detail": [{"type", "loc", "msg", "input"}]}``.
* Errors: ``ApiError`` (``HTTPError``) and Starlette's own 404/405/413 render as
  ``{"detail": ...}`` as FastAPI does; any other exception is ``500 Internal Server Error`` in
  plain text, as the reference server answers, logged here (Starlette re-raises it to the
  server, which logs it too). Bodies over ``max_body`` bytes are 413 (Starlette's limit).
* ``sse_response`` streams with a watch on the client's disconnect and on a simulated restart
  (the request hook's ``wait_drop``), and closes the event source when it stops. Starlette's
  ``StreamingResponse`` watches the disconnect only on ASGI servers older than spec 2.4 and
  leaves the source unclosed when cancelled: ``EventStream`` keeps both, on its ``stream_response``.
* WebSockets take the same handler shape (``Router.add_websocket``): the handler sees the
  handshake as a ``GET`` ``Request`` and returns ``ws_response(messages)``; each chunk of
  ``messages`` goes out as one text message, then the socket closes with 1000. An ``ApiError``
  raised by the handler is a refusal: the handshake is accepted and closed at once with
  ``close_code(status)`` and the detail as reason, because a close sent before the accept
  reaches the client as a bare HTTP 403 and no code (contract §5.6 names codes, 4404/4400). An
  unknown socket path is closed before the accept (a 403), as Starlette's router does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs

import anyio
import msgspec
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, WebSocketRoute
from starlette.routing import Route as StarletteRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from ._errors import ApiError
from ._http_errors import HTTPError, check_bounds, field_error, parse_bool, query_error, validation_error

__all__ = [
    "API_PREFIX",
    "DEFAULT_MAX_BODY",
    "SSE_HEADERS",
    "WS_INTERNAL_ERROR",
    "WS_SERVICE_RESTART",
    "WS_TRY_AGAIN_LATER",
    "EventStream",
    "HTTPError",
    "Handler",
    "Request",
    "RequestHook",
    "Response",
    "Route",
    "Router",
    "SocketMessages",
    "StreamDropped",
    "close_code",
    "close_reason",
    "dumps",
    "field_error",
    "json_response",
    "sse_response",
    "starlette_app",
    "text_response",
    "validation_error",
    "ws_response",
]

API_PREFIX = "/api/algo-workers"
DEFAULT_MAX_BODY = 1 << 20  # bytes; larger bodies get 413 before they are buffered

log = logging.getLogger("supervisor.sandbox")

_json_encoder = msgspec.json.Encoder(decimal_format="string")
_json_decoder = msgspec.json.Decoder()

# The headers the reference server sends on its P&L/ticks/candles streams (contract §5.1).
SSE_HEADERS: Mapping[str, str] = {
    "cache-control": "no-cache",
    "connection": "keep-alive",
    "x-accel-buffering": "no",
}


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as compact JSON (Decimals as strings, datetimes ISO-8601)."""
    return _json_encoder.encode(obj)


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response (``application/json``)."""
    return Response(dumps(obj), status, headers, media_type="application/json")


def text_response(text: str, status: int = 200) -> Response:
    return PlainTextResponse(text, status)


class StreamDropped(Exception):
    """Raised to abort a streaming response mid-body (the client sees a truncated stream)."""


class EventStream(StreamingResponse):
    """A streaming response that stops when the client goes or ``wait_drop`` returns, and
    closes its source either way (module docstring)."""

    body_iterator: AsyncIterator[bytes]

    def __init__(self, stream: AsyncIterator[bytes], headers: Mapping[str, str], media_type: str) -> None:
        super().__init__(stream, headers=headers, media_type=media_type)
        self.wait_drop: Callable[[], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        dropped = False
        async with anyio.create_task_group() as tg:
            if self.wait_drop is not None:
                drop_waiter = self.wait_drop

                async def watch_drop() -> None:
                    nonlocal dropped
                    await drop_waiter()
                    dropped = True
                    tg.cancel_scope.cancel()

                tg.start_soon(watch_drop)

            async def watch_disconnect() -> None:
                await self.listen_for_disconnect(receive)  # the body was read: next is the disconnect
                tg.cancel_scope.cancel()

            tg.start_soon(watch_disconnect)
            try:
                await self.stream_response(send)
            except StreamDropped:
                dropped = True
            except OSError:
                pass  # the peer went away mid-write
            finally:
                with anyio.CancelScope(shield=True):
                    await self.body_iterator.aclose()  # type: ignore[attr-defined]
            tg.cancel_scope.cancel()
        if dropped:
            # Leaving with an exception makes the server abort the connection without the final
            # chunk: the client sees a truncated stream, as after a backend crash.
            raise StreamDropped("stream dropped by fault injection")


def sse_response(stream: AsyncIterator[bytes], *, stream_headers: bool = True) -> EventStream:
    """A ``text/event-stream`` response streaming already-framed SSE bytes from ``stream``.

    ``stream_headers`` adds Cache-Control/Connection/X-Accel-Buffering, which the reference server
    sends on the P&L, ticks and candles streams but not on the timeline stream (contract §5.1).
    """
    return EventStream(stream, SSE_HEADERS if stream_headers else {}, "text/event-stream; charset=utf-8")


class SocketMessages(Response):
    """What a WebSocket handler returns (``ws_response``): the messages to send, no HTTP body."""

    def __init__(self, messages: AsyncIterator[bytes]) -> None:
        super().__init__(status_code=101)
        self.messages = messages


def ws_response(messages: AsyncIterator[bytes]) -> SocketMessages:
    """A WebSocket session for a ``Router.add_websocket`` handler: each chunk of ``messages`` is
    one UTF-8 JSON text message; the socket closes with 1000 when ``messages`` ends."""
    return SocketMessages(messages)


# RFC 6455 §7.4: 1011 internal error, 1012 service restart, 1013 try again later.
WS_INTERNAL_ERROR = 1011
WS_SERVICE_RESTART = 1012
WS_TRY_AGAIN_LATER = 1013
_MAX_CLOSE_REASON = 123  # bytes: a close frame's payload is at most 125, two of them the code


def close_code(status: int) -> int:
    """The close code refusing a WebSocket for what HTTP would answer with ``status``.

    4000 + status for client errors (the private range of RFC 6455 §7.4.2; contract §5.6 uses
    4404 for an unknown run), with 422 as 4400 (§5.6: a bad ``interval_seconds`` is 4400);
    503 is 1013 (try again later) and any other server error 1011.
    """
    if status == 422:
        return 4400
    if 400 <= status < 500:
        return 4000 + status
    return WS_TRY_AGAIN_LATER if status == 503 else WS_INTERNAL_ERROR


def close_reason(detail: Any) -> str:
    """``detail`` as a close reason: the text (JSON for a structured detail), cut to 123 bytes
    on a character boundary."""
    text = detail if isinstance(detail, str) else dumps(detail).decode()
    return text.encode()[:_MAX_CLOSE_REASON].decode("utf-8", "ignore")


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class Request(StarletteRequest):
    """One HTTP request (or WebSocket handshake) as handlers see it (module docstring)."""

    def __init__(self, scope: Scope, receive: Receive = _no_body, *, prefix: str = "") -> None:
        super().__init__(scope, receive)
        self._prefix = prefix

    @property
    def path(self) -> str:
        """The path below the router's prefix (``/worker/runs/r1``), which fault rules match."""
        path: str = self.scope["path"]
        return path.removeprefix(self._prefix) or "/"

    @property
    def path_params(self) -> dict[str, str]:
        """The template's ``{name}`` segments (Starlette's ``str`` convertor: one segment)."""
        params: dict[str, str] = self.scope.get("path_params", {})
        return params

    @property
    def query(self) -> dict[str, list[str]]:
        if not hasattr(self, "_query"):
            raw = self.scope.get("query_string", b"").decode("latin-1")
            self._query = parse_qs(raw, keep_blank_values=True)
        return self._query

    @property
    def headers(self) -> MutableHeaders:
        """The headers; writable, as the WebSocket routes move ``?token=`` into ``Authorization``."""
        if not hasattr(self, "_mutable_headers"):
            self._mutable_headers = MutableHeaders(scope=self.scope)
        return self._mutable_headers

    # -- query helpers; each raises a FastAPI-style 422 on a bad value --------------------
    def q(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name`` (FastAPI takes the last), or ``default``."""
        values = self.query.get(name)
        return values[-1] if values else default

    def q_int(
        self, name: str, default: int | None = None, *, ge: int | None = None, le: int | None = None
    ) -> int | None:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            msg = "Input should be a valid integer, unable to parse string as an integer"
            raise query_error(name, msg, "int_parsing", raw) from None
        check_bounds(name, value, raw, ge, le)
        return value

    def q_float(
        self, name: str, default: float | None = None, *, ge: float | None = None, le: float | None = None
    ) -> float | None:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            msg = "Input should be a valid number, unable to parse string as a number"
            raise query_error(name, msg, "float_parsing", raw) from None
        check_bounds(name, value, raw, ge, le)
        return value

    def q_bool(self, name: str, default: bool | None = None) -> bool | None:
        """Booleans arrive as ``True``/``False`` (sync SDK) or ``true``/``false`` (0.7.4 async)."""
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        value = parse_bool(raw)
        if value is None:
            msg = "Input should be a valid boolean, unable to interpret input"
            raise query_error(name, msg, "bool_parsing", raw)
        return value

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    # -- body (read by Starlette, within the app's ``max_body``: 413 beyond) ------------------
    async def json(self, *, default: Any = None) -> Any:
        """Decode the JSON body; an empty body gives ``default``; bad JSON is a 422 like FastAPI's."""
        raw = await self.body()
        if not raw.strip():
            return default
        try:
            return _json_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            error = field_error(
                ["body", 0], f"JSON decode error: {exc}", "json_invalid", {}, {"error": str(exc)}
            )
            raise validation_error([error]) from None

    async def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; a missing body is ``{}``; any other type is a 422."""
        data = await self.json(default={})
        if not isinstance(data, dict):
            msg = "Input should be a valid dictionary or object to extract fields from"
            raise validation_error([field_error(["body"], msg, "model_attributes_type", data)])
        return data


Handler = Callable[[Request, Any], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    """One registered handler: ``method`` is ``"WEBSOCKET"`` for a socket."""

    method: str
    template: str
    handler: Handler


class Router:
    """Collects ``(method, path template)`` routes; templates are relative to the mount."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` on ``template`` (``{name}`` matches one segment)."""
        self._routes.append(Route(method.upper(), template, handler))

    def add_websocket(self, template: str, handler: Handler) -> None:
        """Register a WebSocket route: ``handler`` gets the handshake as a ``GET`` request and
        returns ``ws_response(...)``, or raises ``ApiError`` to refuse (see module docstring)."""
        self._routes.append(Route("WEBSOCKET", template, handler))

    def routes(self) -> tuple[Route, ...]:
        """The HTTP routes."""
        return tuple(r for r in self._routes if r.method != "WEBSOCKET")

    def websocket_routes(self) -> tuple[Route, ...]:
        return tuple(r for r in self._routes if r.method == "WEBSOCKET")

    def starlette_routes(
        self, ctx: Any, hook: RequestHook | None = None, prefix: str = ""
    ) -> list[BaseRoute]:
        """Starlette routes serving these handlers with ``ctx`` (and ``hook`` on each request),
        to be mounted at ``prefix`` (nested by path segment, see ``_nest``)."""
        leaves: list[tuple[list[str], _Leaf]] = []
        for route in self._routes:
            endpoint: _HttpEndpoint | _SocketEndpoint
            if route.method == "WEBSOCKET":
                endpoint = _SocketEndpoint(route, ctx, hook, prefix)
            else:
                endpoint = _HttpEndpoint(route, ctx, hook, prefix)
            leaves.append((route.template.strip("/").split("/"), _Leaf(route.method, endpoint)))
        return _nest(leaves)


@dataclass(frozen=True, slots=True)
class _Leaf:
    method: str
    endpoint: _HttpEndpoint | _SocketEndpoint

    def at(self, path: str) -> BaseRoute:
        if self.method == "WEBSOCKET":
            return WebSocketRoute(path, self.endpoint)
        return StarletteRoute(path, self.endpoint, methods=[self.method])


_MIN_MOUNT = 4  # routes below one segment worth a Mount


def _mount(path: str, routes: list[BaseRoute]) -> Mount:
    """``Mount(path, routes)``, merged with a lone Mount inside (one level less to pass)."""
    if len(routes) == 1 and isinstance(routes[0], Mount):
        return Mount(path + routes[0].path, routes=routes[0].routes)
    return Mount(path, routes=routes)


def _nest(leaves: list[tuple[list[str], _Leaf]]) -> list[BaseRoute]:
    """The routes as a tree of Mounts by static path segment.

    Starlette's router tries its routes in turn (about 1 us each); the worker API has over a
    hundred, so a flat list made the hand-written layer's dispatch three times cheaper
    (bench/bench_http_layer.py). Mounting by segment keeps every level short. It keeps the
    flat list's answers: sibling Mounts have distinct literal segments, so they never match
    the same path, nor the same path as a one-segment route at their level; a level where a
    parameter segment (``{run_id}``) leads beside others stays flat, in registration order. So
    first-match precedence is unchanged.
    """
    groups: dict[str, list[tuple[list[str], _Leaf]]] = {}
    for segments, leaf in leaves:
        if len(segments) > 1:
            groups.setdefault(segments[0], []).append((segments[1:], leaf))
    if len(groups) > 1 and any(seg.startswith("{") for seg in groups):
        return [leaf.at("/" + "/".join(segments)) for segments, leaf in leaves]
    # Mounts first: most requests go deep (``/worker/runs/{run_id}/...``), and no Mount shares
    # a path with a one-segment route of its level, so the order between them is free
    mounts: list[BaseRoute] = []
    out: list[BaseRoute] = []
    for seg, members in groups.items():
        if len(members) >= _MIN_MOUNT:
            mounts.append(_mount("/" + seg, _nest(members)))
        else:
            out.extend(leaf.at(f"/{seg}/" + "/".join(rest)) for rest, leaf in members)
    return mounts + out + [leaf.at("/" + segments[0]) for segments, leaf in leaves if len(segments) == 1]


class RequestHook(Protocol):
    """Called before each routed request (fault injection); may delay, or return a response."""

    async def before(self, request: Request, route: Route) -> Response | None: ...

    def wrap_stream(
        self, request: Request, route: Route, stream: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]: ...

    async def wait_drop(self) -> None:
        """Return when every open stream must be dropped (a simulated backend restart)."""


class _HttpEndpoint:
    """The ASGI app of one route: the hook, the handler with ``ctx``, the response."""

    __slots__ = ("ctx", "hook", "prefix", "route")

    def __init__(self, route: Route, ctx: Any, hook: RequestHook | None, prefix: str) -> None:
        self.route, self.ctx, self.hook, self.prefix = route, ctx, hook, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, prefix=self.prefix)
        hook = self.hook
        response = await hook.before(request, self.route) if hook is not None else None
        if response is None:
            response = await self.route.handler(request, self.ctx)
            if hook is not None and isinstance(response, EventStream):
                response.body_iterator = hook.wrap_stream(request, self.route, response.body_iterator)
                response.wait_drop = hook.wait_drop
        await response(scope, receive, send)


class _SocketEndpoint:
    """One WebSocket connection: hook, handler, then its messages (module docstring)."""

    __slots__ = ("ctx", "hook", "prefix", "route")

    def __init__(self, route: Route, ctx: Any, hook: RequestHook | None, prefix: str) -> None:
        self.route, self.ctx, self.hook, self.prefix = route, ctx, hook, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        # the handshake, read like an SSE request; it has no body to read
        request = Request(dict(scope, type="http", method="GET"), prefix=self.prefix)
        hook = self.hook
        try:
            response = await hook.before(request, self.route) if hook is not None else None
            if response is None:
                response = await self.route.handler(request, self.ctx)
        except ApiError as exc:
            await _refuse(websocket, exc.status, exc.detail)
            return
        except Exception:  # isolation boundary: a bug refuses with 1011, as a 500 on HTTP
            log.exception("unhandled error on WEBSOCKET %s", scope.get("path"))
            await _refuse(websocket, 500, "Internal Server Error")
            return
        if not isinstance(response, SocketMessages):  # a hook's error response (an injected status)
            await _refuse(websocket, response.status_code, _detail_of(bytes(response.body)))
            return
        messages = response.messages
        if hook is not None:
            messages = hook.wrap_stream(request, self.route, messages)
        await _send_messages(websocket, messages, wait_drop=None if hook is None else hook.wait_drop)


def _detail_of(body: bytes) -> Any:
    try:
        doc = _json_decoder.decode(body)
    except msgspec.DecodeError:
        return body.decode("utf-8", "replace")
    return doc.get("detail", doc) if isinstance(doc, dict) else doc


async def _refuse(websocket: WebSocket, status: int, detail: Any) -> None:
    await websocket.accept()
    await websocket.close(close_code(status), close_reason(detail))


async def _send_messages(
    websocket: WebSocket,
    stream: AsyncIterator[bytes],
    *,
    wait_drop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Accept, send each chunk as a text message until the stream ends, the client goes or a
    restart drops it, then close: 1000 at the end, 1012 on a restart, 1011 on a ``drop`` fault.

    The client's frames are read and discarded (contract §5.6: the server does not read them);
    reading is also how a disconnect is seen. Sending waits for the socket (backpressure): a slow
    client slows its own stream, whose source then skips ahead, and nothing queues here.
    """
    await websocket.accept()
    code = 1000
    gone = False
    async with anyio.create_task_group() as tg:
        if wait_drop is not None:
            drop_waiter = wait_drop

            async def watch_drop() -> None:
                nonlocal code
                await drop_waiter()
                code = WS_SERVICE_RESTART
                tg.cancel_scope.cancel()

            tg.start_soon(watch_drop)

        async def watch_disconnect() -> None:
            nonlocal gone
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
            gone = True
            tg.cancel_scope.cancel()

        tg.start_soon(watch_disconnect)
        try:
            async for chunk in stream:
                await websocket.send_text(chunk.decode())
        except StreamDropped:
            code = WS_INTERNAL_ERROR
        except WebSocketDisconnect:
            gone = True
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
        tg.cancel_scope.cancel()
    if not gone:
        await websocket.close(code)


# -- the application ------------------------------------------------------------------------------


async def _api_error(request: StarletteRequest, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_response({"detail": exc.detail}, exc.status, getattr(exc, "headers", None))


async def _http_exception(request: StarletteRequest, exc: Exception) -> Response:
    """Starlette's own 404/405/413 in FastAPI's shape, ``{"detail": "Not Found"}``."""
    assert isinstance(exc, HTTPException)
    return json_response({"detail": exc.detail}, exc.status_code, exc.headers)


async def _server_error(request: StarletteRequest, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return PlainTextResponse("Internal Server Error", 500)


def starlette_app(
    api: Router,
    ctx: Any,
    *,
    prefix: str = API_PREFIX,
    hook: RequestHook | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    mounts: Mapping[str, Router] | None = None,
) -> Starlette:
    """The ASGI application: ``api`` under ``prefix`` with ``hook`` on each request, each of
    ``mounts`` (prefix -> router, e.g. the testing API) under its prefix without the hook."""
    routes: list[BaseRoute] = []
    for given, router in (*(mounts or {}).items(), (prefix, api)):
        path = given.rstrip("/")
        routes.append(_mount(path, router.starlette_routes(ctx, hook if router is api else None, path)))
    return Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_exception, Exception: _server_error},
        max_body_size=max_body,
    )
