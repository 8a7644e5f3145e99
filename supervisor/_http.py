"""The daemon's small HTTP surface: a Starlette app on hypercorn's trio server.

=========================================  ===================================================
``GET /healthz``                           200 while the process and its event loop answer
``GET /readyz``                            200 once every strategy reached running, quarantined
                                           or standby; 503 before that, while one is
                                           ``not_durable`` and during shutdown (the body
                                           names the strategies and why)
``GET /status``                            JSON of every strategy (state, run id, restarts, ...)
``POST /strategies/{name}/restart``        operator restart (202; 404 unknown; 409 not now)
``POST /strategies/{name}/pause``          end the body, keep the session heartbeating (202)
``POST /strategies/{name}/resume``         start a paused body again, ``recovered=True`` (202)
``POST /strategies/{name}/stop``           end the body and release the session (202)
``GET /metrics``                           mounted when a ``metrics_handler`` is given (OPS)
=========================================  ===================================================

Every ``POST`` is an operator action: it needs ``Authorization: Bearer <operator token>``
(``supervisor.http.operator_token``, from the environment); without a configured token they are
all refused (403), a wrong or missing one is 401. Reads need no token: bind to loopback
(``127.0.0.1:9464``, the default) or a network only operators reach. Every answer is JSON
(``{"detail": ...}`` for 404/405/500) with ``Cache-Control: no-store``, the console's HTML aside.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["HttpRequest", "HttpResponse", "build_app", "json_response", "serve_http"]

log = logging.getLogger("supervisor.http")


CONTROL_ACTIONS = ("restart", "pause", "resume", "stop")


class SupervisorView(Protocol):
    def ready(self) -> bool: ...
    def not_ready(self) -> list[dict[str, Any]]: ...
    def status(self) -> dict[str, Any]: ...
    def control(self, name: str, action: str) -> str: ...
    def state_of(self, name: str) -> str: ...


@dataclass(frozen=True)
class HttpRequest:
    """What a handler sees of a request (Starlette's, reduced to what the daemon reads)."""

    method: str
    path: str
    query: bytes
    authorization: str = field(default="", repr=False)  # the header's value (a secret)
    path_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str = "application/json"


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]
MetricsHandler = Callable[[], tuple[bytes, str]]  # -> (body, content type); sync, cheap


def json_response(obj: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, json.dumps(obj, default=str).encode())


def build_app(
    supervisor: SupervisorView,
    *,
    metrics_handler: MetricsHandler | None = None,
    extra_routes: Mapping[tuple[str, str], Handler] | None = None,
    operator_token: str | None = None,
) -> Starlette:
    """The ASGI app (Starlette). ``extra_routes`` maps ``(method, path)`` to
    ``async handler(request)``, a path ending in ``*`` matching every path with that prefix (the
    console's pages); ``operator_token`` guards every ``POST`` (module docstring)."""

    def refused(request: HttpRequest) -> HttpResponse | None:
        """None when the request may act; else the refusal (the token is never echoed)."""
        if request.method != "POST":
            return None
        if not operator_token:
            detail = "operator actions are off: set supervisor.http.operator_token"
            return json_response({"detail": detail}, 403)
        scheme, _, given = request.authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), operator_token.encode()):
            return json_response({"detail": "operator token required (Authorization: Bearer ...)"}, 401)
        return None

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A Starlette endpoint for ``handler``: the operator check, then our response."""

        async def serve(request: Request) -> Response:
            view = HttpRequest(
                request.method,
                request.scope["path"],
                request.scope.get("query_string", b""),
                request.headers.get("authorization", ""),
                dict(request.path_params),
            )
            response = refused(view) or await handler(view)
            return Response(response.body, response.status, NO_STORE, response.content_type)

        return serve

    async def healthz(request: HttpRequest) -> HttpResponse:
        return json_response({"status": "ok"})

    async def readyz(request: HttpRequest) -> HttpResponse:
        ready = supervisor.ready()
        if ready:
            return json_response({"ready": True})
        return json_response({"ready": False, "not_ready": supervisor.not_ready()}, 503)

    async def status(request: HttpRequest) -> HttpResponse:
        return json_response(supervisor.status())

    async def metrics(request: HttpRequest) -> HttpResponse:
        assert metrics_handler is not None
        body, content_type = metrics_handler()
        return HttpResponse(200, body, content_type)

    async def control(request: HttpRequest) -> HttpResponse:
        name, action = request.path_params["name"], request.path_params["action"]
        if action not in CONTROL_ACTIONS:
            return json_response({"detail": "Not Found"}, 404)
        try:
            result = supervisor.control(name, action)
        except KeyError:
            return json_response({"detail": f"no strategy named {name!r}"}, 404)
        if result == "ignored":
            detail = f"cannot {action} now (state {supervisor.state_of(name)})"
            return json_response({"name": name, "result": result, "detail": detail}, 409)
        log.info("operator %s of %s requested over HTTP", action, name)
        body: dict[str, Any] = {"name": name, "result": result}
        if action == "stop":
            body["detail"] = "the session is released: the backend acts on the run about 180 s later"
        return json_response(body, 202)

    table: dict[tuple[str, str], Handler] = {
        ("GET", "/healthz"): healthz,
        ("GET", "/readyz"): readyz,
        ("GET", "/status"): status,
    }
    if metrics_handler is not None:
        table[("GET", "/metrics")] = metrics
    table.update(extra_routes or {})
    table[("POST", "/strategies/{name}/{action}")] = control
    routes = [
        # "/ui/strategies/*" -> "/ui/strategies/{rest:path}": the prefix and whatever follows
        Route(
            path.removesuffix("*") + "{rest:path}" if path.endswith("*") else path, endpoint(h), methods=[m]
        )
        for (m, path), h in table.items()
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_exception, Exception: _server_error},
    )


NO_STORE = {"cache-control": "no-store"}


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's 404/405 as ``{"detail": ...}``, as every other answer here."""
    assert isinstance(exc, HTTPException)
    body = json.dumps({"detail": exc.detail}).encode()
    return Response(body, exc.status_code, {**(exc.headers or {}), **NO_STORE}, "application/json")


async def _server_error(request: Request, exc: Exception) -> Response:
    # a handler bug answers 500 and the server goes on (Starlette re-raises it to hypercorn)
    log.error("HTTP handler failed for %s %s", request.method, request.url.path, exc_info=exc)
    return Response(b'{"detail": "internal error"}', 500, NO_STORE, "application/json")


async def serve_http(
    supervisor: SupervisorView,
    *,
    host: str = "127.0.0.1",
    port: int = 9464,
    metrics_handler: MetricsHandler | None = None,
    extra_routes: Mapping[tuple[str, str], Handler] | None = None,
    operator_token: str | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the daemon's HTTP endpoints until cancelled; ``task_status.started(url)`` once
    bound (``port=0`` picks a free port). Raises ``OSError`` when the address is taken."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 1.0
    app: Any = build_app(
        supervisor, metrics_handler=metrics_handler, extra_routes=extra_routes, operator_token=operator_token
    )
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config, mode="asgi"))
        url = str(binds[0]).rstrip("/")
        log.info("HTTP on %s (/healthz /readyz /status%s)", url, " /metrics" if metrics_handler else "")
        task_status.started(url)
