"""Fixtures: the real sandbox on 127.0.0.1:<port 0> in the test's trio run, and our client
talking to it through a route-recording transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest
import trio
import trio.testing

from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.sandbox import SandboxHandle, serve_sandbox

TOKEN = "kwa_" + "c" * 43


class RecordingTransport(httpx.AsyncBaseTransport):
    """Forwards to a real loopback transport and remembers (method, path) of each request."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.seen: list[tuple[str, str]] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.seen.append((request.method, path))
        self.in_flight[path] = self.in_flight.get(path, 0) + 1
        self.max_in_flight[path] = max(self.max_in_flight.get(path, 0), self.in_flight[path])
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight[path] -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def sandbox(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> SandboxHandle:
    """Tests using this fixture must also take ``autojump_clock`` themselves."""
    handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN))
    return handle


@pytest.fixture
def recorder() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
async def client(
    sandbox: SandboxHandle, recorder: RecordingTransport
) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
    async with AsyncKiteAlgoWorkerClient(config, transport=recorder, environ={}) as c:
        yield c
