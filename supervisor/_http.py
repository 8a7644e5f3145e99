"""The daemon's small HTTP surface (hypercorn's trio server, a few lines of ASGI).

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
(``127.0.0.1:9464``, the default) or a network only operators reach.
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
    method: str
    path: str
    query: bytes
    authorization: str = field(default="", repr=False)  # the header's value (a secret)


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
) -> Callable[..., Awaitable[None]]:
    """The ASGI app. ``extra_routes`` maps ``(method, path)`` to ``async handler(request)``;
    ``operator_token`` guards every ``POST`` (module docstring)."""
    routes: dict[tuple[str, str], Handler] = {}

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

    routes[("GET", "/healthz")] = healthz
    routes[("GET", "/readyz")] = readyz
    routes[("GET", "/status")] = status
    if metrics_handler is not None:
        routes[("GET", "/metrics")] = metrics
    routes.update(extra_routes or {})

    async def control(name: str, action: str) -> HttpResponse:
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

    # a route path ending in "*" matches every path with that prefix (the console's pages)
    prefixes = [(m, p.removesuffix("*"), h) for (m, p), h in routes.items() if p.endswith("*")]

    async def dispatch(request: HttpRequest) -> HttpResponse:
        refusal = refused(request)
        if refusal is not None:
            return refusal
        handler = routes.get((request.method, request.path))
        if handler is None:
            handler = next(
                (h for m, prefix, h in prefixes if m == request.method and request.path.startswith(prefix)),
                None,
            )
        if handler is not None:
            return await handler(request)
        parts = request.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "strategies" and parts[2] in CONTROL_ACTIONS:
            if request.method != "POST":
                return json_response({"detail": "method not allowed"}, 405)
            return await control(parts[1], parts[2])
        if any(path == request.path for _, path in routes):
            return json_response({"detail": "method not allowed"}, 405)
        return json_response({"detail": "not found"}, 404)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        authorization = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"")
        request = HttpRequest(
            scope["method"], scope["path"], scope.get("query_string", b""), authorization.decode("latin-1")
        )
        try:
            response = await dispatch(request)
        except Exception:  # isolation boundary: a handler bug must not kill the server
            log.exception("HTTP handler failed for %s %s", request.method, request.path)
            response = json_response({"detail": "internal error"}, 500)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (b"content-type", response.content_type.encode()),
                    (b"content-length", str(len(response.body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    return app


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
