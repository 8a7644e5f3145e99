"""The sandbox's tiny ASGI framework, served by hypercorn over loopback."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from supervisor.sandbox._asgi import (
    Handler,
    HTTPError,
    Request,
    Response,
    Router,
    json_response,
    sse_response,
    starlette_app,
)


async def _echo(request: Request, ctx: object) -> Response:
    body = await request.json_object()
    return json_response(
        {
            "params": request.path_params,
            "n": request.q_int("n", 0, ge=0, le=10),
            "flag": request.q_bool("flag"),
            "body": body,
        }
    )


async def _fail(request: Request, ctx: object) -> Response:
    raise HTTPError(409, {"rejection_reason": "X"})


async def _boom(request: Request, ctx: object) -> Response:
    raise RuntimeError("bug")


async def _stream(request: Request, ctx: object) -> Response:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"data: {i}\n\n".encode()
        yield b": heartbeat\n\n"

    return sse_response(gen())


async def _start(nursery: trio.Nursery, **kwargs: object) -> str:
    router = Router()
    router.add("POST", "/worker/runs/{run_id}/echo", _echo)
    router.add("GET", "/worker/fail", _fail)
    router.add("GET", "/worker/boom", _boom)
    router.add("GET", "/worker/stream", _stream)
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    binds = await nursery.start(serve, starlette_app(router, None, max_body=1000), config)
    return str(binds[0]) + "/api/algo-workers"


async def test_routing_errors_and_query_helpers() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            base = await _start(nursery)
            async with httpx.AsyncClient(base_url=base) as client:
                r = await client.post("/worker/runs/run_1/echo?n=3&flag=True", json={"a": 1})
                assert r.json() == {"params": {"run_id": "run_1"}, "n": 3, "flag": True, "body": {"a": 1}}
                r = await client.post("/worker/runs/run_1/echo?n=11")
                assert r.status_code == 422
                assert r.json()["detail"][0]["loc"] == ["query", "n"]
                r = await client.post("/worker/runs/run_1/echo", content=b"{bad")
                assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
                r = await client.post("/worker/runs/run_1/echo", content=b"x" * 2000)
                assert r.status_code == 413
                assert (await client.get("/worker/runs/run_1/echo")).status_code == 405
                assert (await client.get("/worker/nope")).json() == {"detail": "Not Found"}
                r = await client.get("/worker/fail")
                assert r.status_code == 409 and r.json() == {"detail": {"rejection_reason": "X"}}
                r = await client.get("/worker/boom")
                assert r.status_code == 500 and r.text == "Internal Server Error"
                r = await client.get("/worker/stream")
                assert r.headers["content-type"].startswith("text/event-stream")
                assert r.headers["x-accel-buffering"] == "no"
                assert r.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n: heartbeat\n\n"
            nursery.cancel_scope.cancel()


async def test_every_registered_route_answers_its_own_handler() -> None:
    """The app nests its routes in Mounts by path segment (``_asgi._nest``): each template of the
    worker API still reaches its own handler, and a wrong method is 405, as on a flat list."""
    from supervisor.sandbox._app import build_router

    def named(method: str, template: str) -> Handler:
        async def handler(request: Request, ctx: object) -> Response:
            return json_response({"route": f"{method} {template}"})

        return handler

    stubs = Router()
    http_routes = build_router().routes()
    for route in http_routes:
        stubs.add(route.method, route.template, named(route.method, route.template))
    transport = httpx.ASGITransport(app=starlette_app(stubs, None))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox/api/algo-workers") as client:
        for route in http_routes:
            path = re.sub(r"\{[a-z_]+\}", "x1", route.template)
            r = await client.request(route.method, path)
            assert r.json() == {"route": f"{route.method} {route.template}"}
        assert len(http_routes) > 80
        r = await client.request("PATCH", "/worker/market/quotes")
        assert r.status_code == 405 and r.json() == {"detail": "Method Not Allowed"}
        assert (await client.get("/worker/runs/x1/nope")).status_code == 404
