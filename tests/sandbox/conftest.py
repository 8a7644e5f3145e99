"""Fixtures: a real sandbox server on 127.0.0.1:<free port> in the test's trio run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest
import trio
import trio.testing

from supervisor.sandbox import SandboxHandle, serve_sandbox

TOKEN = "kwa_" + "t" * 43
PREFIX = "/api/algo-workers"


@pytest.fixture
async def sandbox(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> SandboxHandle:
    """A sandbox on virtual time. pytest-trio only uses a clock that the *test* takes as an
    argument: tests using this fixture must also take ``autojump_clock``."""
    handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN))
    return handle


def api_client(handle: SandboxHandle, token: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=handle.base_url + PREFIX,
        headers={"Authorization": f"Bearer {token or handle.token}"},
        timeout=30.0,
    )


@pytest.fixture
async def api(sandbox: SandboxHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(sandbox) as client:
        yield client
