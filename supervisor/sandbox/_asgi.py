"""A tiny ASGI framework for the sandbox: routing, requests, JSON/SSE/WebSocket responses, errors.

The real backend is FastAPI; the sandbox reproduces only what the worker API needs on the wire
(contract §1.4 error bodies, §5.1 SSE framing, §5.6 WebSockets) without pulling a web framework
in. The module is
async-library agnostic (it uses anyio primitives only), so the same application runs under
hypercorn's trio worker in-process and under asyncio/uvloop standalone.

Pieces:

* ``Router`` maps ``(method, "/worker/runs/{run_id}/intents")`` templates to handlers
  ``async def handler(request, ctx) -> Response``; templates are matched after the API prefix.
* ``Request`` holds the method, path, path params, query (``dict[str, list[str]]``) with typed
  helpers that raise FastAPI-style 422 errors, lower-cased headers and a size-limited body.
* ``json_response``, ``sse_response`` and ``HTTPError`` build responses; ``validation_error``
  builds the 422 list form ``{"detail": [{"type", "loc", "msg", "input"}]}``.
* ``AsgiApp`` is the ASGI callable; it answers 404/405 like Starlette, turns ``HTTPError`` into
  ``{"detail": ...}`` bodies and any other exception into ``500 Internal Server Error`` (plain
  text, as the reference server does), and stops an SSE response when the client disconnects.
* WebSockets mirror that, as Starlette's ``add_websocket_route`` does beside ``add_route``:
  ``Router.add_websocket(template, handler)`` takes the same handler shape. The handler sees
  the handshake as a ``GET`` ``Request`` and returns ``ws_response(messages)``; each chunk of
  ``messages`` goes out as one text message, then the socket closes with 1000. An ``ApiError``
  raised by the handler is a refusal: the handshake is accepted and closed at once with
  ``close_code(status)`` and the detail as reason, because a close sent before the accept
  reaches the client as a bare HTTP 403 and no code (contract §5.6 names codes, 4404/4400).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

import anyio
import msgspec

from ._errors import ApiError

API_PREFIX = "/api/algo-workers"
DEFAULT_MAX_BODY = 1 << 20  # bytes; larger bodies get 413 before they are buffered

_json_encoder = msgspec.json.Encoder(decimal_format="string")
_json_decoder = msgspec.json.Decoder()

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# The headers the reference server sends on its P&L/ticks/candles streams (contract §5.1).
SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("cache-control", "no-cache"),
    ("connection", "keep-alive"),
    ("x-accel-buffering", "no"),
)


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as compact JSON (Decimals as strings, datetimes ISO-8601)."""
    return _json_encoder.encode(obj)


class HTTPError(ApiError):
    """An error response: ``{"detail": detail}`` with ``status``. Raise it from handlers.

    The pure core raises the base ``ApiError``; the app renders both the same way.
    """

    def __init__(self, status: int, detail: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, detail)
        self.headers = dict(headers or {})


def field_error(
    loc: tuple[str | int, ...] | list[str | int],
    msg: str,
    type_: str,
    input_: Any = None,
    ctx: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One FastAPI/pydantic v2 style validation error item."""
    item: dict[str, Any] = {"type": type_, "loc": list(loc), "msg": msg, "input": input_}
    if ctx:
        item["ctx"] = dict(ctx)
    return item


def validation_error(errors: list[dict[str, Any]]) -> HTTPError:
    """A 422 with the list-form detail FastAPI produces for request validation."""
    return HTTPError(422, errors)


@dataclass(slots=True)
class Response:
    """A response: either a complete ``body`` or a streaming ``stream`` of byte chunks."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response (``application/json``)."""
    hdrs = [("content-type", "application/json")]
    hdrs.extend((k.lower(), v) for k, v in (headers or {}).items())
    return Response(status=status, body=dumps(obj), headers=hdrs)


def text_response(text: str, status: int = 200) -> Response:
    return Response(
        status=status, body=text.encode(), headers=[("content-type", "text/plain; charset=utf-8")]
    )


def sse_response(stream: AsyncIterator[bytes], *, stream_headers: bool = True) -> Response:
    """A ``text/event-stream`` response streaming already-framed SSE bytes from ``stream``.

    ``stream_headers`` adds Cache-Control/Connection/X-Accel-Buffering, which the reference server
    sends on the P&L, ticks and candles streams but not on the timeline stream (contract §5.1).
    """
    hdrs = [("content-type", "text/event-stream; charset=utf-8")]
    if stream_headers:
        hdrs.extend(SSE_HEADERS)
    return Response(status=200, headers=hdrs, stream=stream)


def ws_response(messages: AsyncIterator[bytes]) -> Response:
    """A WebSocket session for a ``Router.add_websocket`` handler: each chunk of ``messages`` is
    one UTF-8 JSON text message; the socket closes with 1000 when ``messages`` ends."""
    return Response(status=101, stream=messages)


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


def _parse_bool(raw: str) -> bool | None:
    low = raw.strip().lower()
    if low in {"true", "1", "yes", "on", "t", "y"}:
        return True
    if low in {"false", "0", "no", "off", "f", "n"}:
        return False
    return None


class Request:
    """One HTTP request as handlers see it. ``await request.json()`` reads and decodes the body."""

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        path: str,
        path_params: dict[str, str],
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.scope = scope
        self._receive = receive
        self.method: str = scope["method"].upper()
        self.path = path
        self.path_params = path_params
        raw_qs = scope.get("query_string", b"").decode("latin-1")
        self.query: dict[str, list[str]] = parse_qs(raw_qs, keep_blank_values=True)
        self.headers: dict[str, str] = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        self._max_body = max_body
        self._body: bytes | None = None

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
            raise validation_error(
                [
                    field_error(
                        ["query", name],
                        "Input should be a valid integer, unable to parse string as an integer",
                        "int_parsing",
                        raw,
                    )
                ]
            ) from None
        _check_bounds(name, value, raw, ge, le)
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
            raise validation_error(
                [
                    field_error(
                        ["query", name],
                        "Input should be a valid number, unable to parse string as a number",
                        "float_parsing",
                        raw,
                    )
                ]
            ) from None
        _check_bounds(name, value, raw, ge, le)
        return value

    def q_bool(self, name: str, default: bool | None = None) -> bool | None:
        """Booleans arrive as ``True``/``False`` (sync SDK) or ``true``/``false`` (0.7.4 async)."""
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        value = _parse_bool(raw)
        if value is None:
            raise validation_error(
                [
                    field_error(
                        ["query", name],
                        "Input should be a valid boolean, unable to interpret input",
                        "bool_parsing",
                        raw,
                    )
                ]
            )
        return value

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    # -- body --------------------------------------------------------------------------
    async def body(self) -> bytes:
        """Read the whole body (at most ``max_body`` bytes, else ``HTTPError(413)``)."""
        if self._body is not None:
            return self._body
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body:
            raise HTTPError(413, "Request body too large")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise HTTPError(413, "Request body too large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        self._body = b"".join(chunks)
        return self._body

    async def json(self, *, default: Any = None) -> Any:
        """Decode the JSON body; an empty body gives ``default``; bad JSON is a 422 like FastAPI's."""
        raw = await self.body()
        if not raw.strip():
            return default
        try:
            return _json_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise validation_error(
                [
                    field_error(
                        ["body", 0], f"JSON decode error: {exc}", "json_invalid", {}, {"error": str(exc)}
                    )
                ]
            ) from None

    async def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; a missing body is ``{}``; any other type is a 422."""
        data = await self.json(default={})
        if not isinstance(data, dict):
            raise validation_error(
                [
                    field_error(
                        ["body"],
                        "Input should be a valid dictionary or object to extract fields from",
                        "model_attributes_type",
                        data,
                    )
                ]
            )
        return data


def _check_bounds(name: str, value: float, raw: str, ge: float | None, le: float | None) -> None:
    if ge is not None and value < ge:
        raise validation_error(
            [
                field_error(
                    ["query", name],
                    f"Input should be greater than or equal to {ge}",
                    "greater_than_equal",
                    raw,
                    {"ge": ge},
                )
            ]
        )
    if le is not None and value > le:
        raise validation_error(
            [
                field_error(
                    ["query", name],
                    f"Input should be less than or equal to {le}",
                    "less_than_equal",
                    raw,
                    {"le": le},
                )
            ]
        )


Handler = Callable[[Request, Any], Awaitable[Response]]

_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler


def _compile(template: str) -> re.Pattern[str]:
    regex = _PARAM.sub(
        lambda m: f"(?P<{m.group(1)}>[^/]+)",
        re.escape(template).replace(r"\{", "{").replace(r"\}", "}"),
    )
    return re.compile("^" + regex + "$")


class Router:
    """Routes ``(method, path template)`` to handlers; templates are relative to the API prefix."""

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._ws_routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` on ``template`` (``{name}`` matches one segment)."""
        self._routes.append(Route(method.upper(), template, _compile(template), handler))

    def add_websocket(self, template: str, handler: Handler) -> None:
        """Register a WebSocket route: ``handler`` gets the handshake as a ``GET`` request and
        returns ``ws_response(...)``, or raises ``ApiError`` to refuse (see module docstring)."""
        self._ws_routes.append(Route("WEBSOCKET", template, _compile(template), handler))

    def routes(self) -> tuple[Route, ...]:
        """The HTTP routes."""
        return tuple(self._routes)

    def websocket_routes(self) -> tuple[Route, ...]:
        return tuple(self._ws_routes)

    def match_websocket(self, path: str) -> tuple[Route, dict[str, str]]:
        """The WebSocket route for ``path`` and its path params; ``HTTPError(404)`` otherwise."""
        for route in self._ws_routes:
            found = route.pattern.match(path)
            if found is not None:
                return route, found.groupdict()
        raise HTTPError(404, "Not Found")

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and its path params; ``HTTPError`` 404/405 with Starlette's bodies otherwise."""
        allowed = False
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, found.groupdict()
            allowed = True
        if allowed:
            raise HTTPError(405, "Method Not Allowed")
        raise HTTPError(404, "Not Found")


class StreamDropped(Exception):
    """Raised to abort a streaming response mid-body (the client sees a truncated stream)."""


class RequestHook(Protocol):
    """Called before each routed request (fault injection); may delay, or return a response."""

    async def before(self, request: Request, route: Route) -> Response | None: ...

    def wrap_stream(
        self, request: Request, route: Route, stream: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]: ...

    async def wait_drop(self) -> None:
        """Return when every open stream must be dropped (a simulated backend restart)."""


class AsgiApp:
    """The ASGI 3 application: prefix stripping, routing, errors, streaming with disconnect watch."""

    def __init__(
        self,
        router: Router,
        ctx: Any,
        *,
        prefix: str = API_PREFIX,
        max_body: int = DEFAULT_MAX_BODY,
        hook: RequestHook | None = None,
        extra_routers: Mapping[str, Router] | None = None,
    ) -> None:
        self.router = router
        self.ctx = ctx
        self.prefix = prefix.rstrip("/")
        self.max_body = max_body
        self.hook = hook
        # prefix -> router, e.g. {"/__sandbox__": testing_router}; checked before the API prefix
        self.extra_routers = dict(extra_routers or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind == "websocket":
            await self._websocket(scope, receive, send)
            return
        if kind != "http":
            return
        path: str = scope.get("path", "/")
        request: Request | None = None
        try:
            router, rel = self._select(path)
            route, params = router.match(scope["method"].upper(), rel)
            request = Request(scope, receive, rel, params, self.max_body)
            response: Response | None = None
            if self.hook is not None and router is self.router:
                response = await self.hook.before(request, route)
            if response is None:
                response = await route.handler(request, self.ctx)
                if response.stream is not None and self.hook is not None and router is self.router:
                    response.stream = self.hook.wrap_stream(request, route, response.stream)
        except ApiError as exc:
            hdrs = [("content-type", "application/json")]
            hdrs.extend((k.lower(), v) for k, v in getattr(exc, "headers", {}).items())
            response = Response(status=exc.status, body=dumps({"detail": exc.detail}), headers=hdrs)
        except Exception:  # isolation boundary: a bug answers 500 like the reference server
            import logging

            logging.getLogger("supervisor.sandbox").exception(
                "unhandled error on %s %s", scope["method"], path
            )
            response = text_response("Internal Server Error", 500)
        drop = self.hook.wait_drop if self.hook is not None else None
        await _send_response(response, receive, send, head=scope["method"].upper() == "HEAD", wait_drop=drop)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One WebSocket connection: route, hooks, handler, then its messages (module docstring)."""
        if (await receive())["type"] != "websocket.connect":  # ASGI: the first event
            return
        path: str = scope.get("path", "/")
        try:
            router, rel = self._select(path)
            route, params = router.match_websocket(rel)
        except HTTPError:
            # no such socket: refused before the accept (an HTTP 403), as Starlette does
            await send({"type": "websocket.close", "code": 1000})
            return
        # the handshake, read like an SSE request; it has no body to read
        request = Request(dict(scope, method="GET"), _no_body, rel, params, 0)
        hook = self.hook if router is self.router else None
        try:
            response = await hook.before(request, route) if hook is not None else None
            if response is None:
                response = await route.handler(request, self.ctx)
                if response.stream is not None and hook is not None:
                    response.stream = hook.wrap_stream(request, route, response.stream)
        except ApiError as exc:
            await _refuse(send, exc.status, exc.detail)
            return
        except Exception:  # isolation boundary: a bug refuses with 1011, as a 500 on HTTP
            import logging

            logging.getLogger("supervisor.sandbox").exception("unhandled error on WEBSOCKET %s", path)
            await _refuse(send, 500, "Internal Server Error")
            return
        if response.stream is None:  # a hook's error response (an injected status)
            await _refuse(send, response.status, _detail_of(response.body))
            return
        drop = hook.wait_drop if hook is not None else None
        await _send_messages(response.stream, receive, send, wait_drop=drop)

    def _select(self, path: str) -> tuple[Router, str]:
        for prefix, router in self.extra_routers.items():
            if path == prefix or path.startswith(prefix + "/"):
                return router, path[len(prefix) :] or "/"
        if path == self.prefix or path.startswith(self.prefix + "/"):
            return self.router, path[len(self.prefix) :] or "/"
        raise HTTPError(404, "Not Found")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _detail_of(body: bytes) -> Any:
    try:
        doc = _json_decoder.decode(body)
    except msgspec.DecodeError:
        return body.decode("utf-8", "replace")
    return doc.get("detail", doc) if isinstance(doc, dict) else doc


async def _refuse(send: Send, status: int, detail: Any) -> None:
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": close_code(status), "reason": close_reason(detail)})


async def _send_messages(
    stream: AsyncIterator[bytes],
    receive: Receive,
    send: Send,
    *,
    wait_drop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Accept, send each chunk as a text message until the stream ends, the client goes or a
    restart drops it, then close: 1000 at the end, 1012 on a restart, 1011 on a ``drop`` fault.

    The client's frames are read and discarded (contract §5.6: the server does not read them);
    reading is also how a disconnect is seen. Sending waits for the socket (backpressure): a slow
    client slows its own stream, whose source then skips ahead, and nothing queues here.
    """
    await send({"type": "websocket.accept"})
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
            while (await receive())["type"] != "websocket.disconnect":
                pass
            gone = True
            tg.cancel_scope.cancel()

        tg.start_soon(watch_disconnect)
        try:
            async for chunk in stream:
                await send({"type": "websocket.send", "text": chunk.decode()})
        except StreamDropped:
            code = WS_INTERNAL_ERROR
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
        tg.cancel_scope.cancel()
    if not gone:
        await send({"type": "websocket.close", "code": code})


def _encode_headers(response: Response) -> list[tuple[bytes, bytes]]:
    out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if response.stream is None:
        out.append((b"content-length", str(len(response.body)).encode()))
    return out


async def _send_response(
    response: Response,
    receive: Receive,
    send: Send,
    *,
    head: bool,
    wait_drop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    await send(
        {"type": "http.response.start", "status": response.status, "headers": _encode_headers(response)}
    )
    if response.stream is None:
        await send({"type": "http.response.body", "body": b"" if head else response.body})
        return
    stream = response.stream
    dropped = False
    async with anyio.create_task_group() as tg:
        if wait_drop is not None:
            drop_waiter = wait_drop

            async def watch_drop() -> None:
                nonlocal dropped
                await drop_waiter()
                dropped = True
                tg.cancel_scope.cancel()

            tg.start_soon(watch_drop)

        async def watch_disconnect() -> None:
            # The request body has been consumed by now; the next message is the disconnect.
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch_disconnect)
        try:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except StreamDropped:
            dropped = True
        except OSError:
            pass  # the peer went away mid-write
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
        tg.cancel_scope.cancel()
    if dropped:
        # Leaving with an exception makes the server abort the connection without the final
        # chunk: the client sees a truncated stream, as after a backend crash.
        raise StreamDropped("stream dropped by fault injection")
