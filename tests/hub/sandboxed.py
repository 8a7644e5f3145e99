"""The real sandbox and the real client for hub tests outside ``tests/hub`` (``tests/faults``).

Loopback, port 0, in the test's own trio run, so ``autojump_clock`` drives the sandbox's market
steps, its fault rules and the hub's backoff alike. ``CountingTransport`` is a real transport
that records each request's path (how often the hub asked upstream).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import trio

from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.hub import StreamResumed, Subscription
from supervisor.sandbox import SandboxHandle, serve_sandbox

__all__ = [
    "TOKEN",
    "CountingTransport",
    "data_after_resume",
    "next_data",
    "open_sandbox_client",
    "start_sandbox",
]

TOKEN = "kwa_" + "f" * 43


class CountingTransport(httpx.AsyncBaseTransport):
    """A real loopback transport that records the path and status of every exchange."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.answers: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.answers.append((request.url.path, response.status_code))
        return response

    def count(self, suffix: str, status: int | None = None) -> int:
        return sum(p.endswith(suffix) and status in (None, s) for p, s in self.answers)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def start_sandbox(nursery: trio.Nursery, **kwargs: Any) -> SandboxHandle:
    handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN, **kwargs))
    return handle


@asynccontextmanager
async def open_sandbox_client(
    sandbox: SandboxHandle, transport: httpx.AsyncBaseTransport
) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
    async with AsyncKiteAlgoWorkerClient(config, transport=transport, environ={}) as client:
        yield client


async def next_data(sub: Subscription, types: type | Sequence[type]) -> tuple[Any, list[StreamResumed]]:
    """The next item of ``types`` (blocks), and the resume markers read on the way to it."""
    wanted = tuple(types) if isinstance(types, Sequence) else (types,)
    markers: list[StreamResumed] = []
    async for item in sub:
        if isinstance(item, StreamResumed):
            markers.append(item)
        elif isinstance(item, wanted):
            return item, markers
    raise AssertionError("subscriptions never end")


async def data_after_resume(sub: Subscription, types: type | Sequence[type]) -> tuple[Any, StreamResumed]:
    """Skip what was buffered before the stream dropped: the first item of ``types`` after a
    resume marker (blocks), and that marker."""
    async for item in sub:
        if isinstance(item, StreamResumed):
            data, more = await next_data(sub, types)
            assert not more, "one resume marker per reconnection"
            return data, item
    raise AssertionError("subscriptions never end")
