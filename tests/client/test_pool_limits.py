"""The client's connection pool: its size comes from AlgoWorkerConfig, and open streams hold it."""

from __future__ import annotations

import pydantic
import pytest
import trio
import trio.testing

from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient, TransportError
from supervisor.sandbox import SandboxHandle

TOKEN = "kwa_" + "p" * 43


def test_pool_defaults_leave_room_past_64_streams() -> None:
    config = AlgoWorkerConfig("http://127.0.0.1:1", TOKEN)
    assert config.max_connections == 256
    assert config.max_keepalive_connections == 64
    assert "max_connections=256" in repr(config) and TOKEN not in repr(config)


def test_pool_limits_are_validated_and_keepalive_capped() -> None:
    assert AlgoWorkerConfig("http://127.0.0.1:1", TOKEN, max_connections=8).max_keepalive_connections == 8
    with pytest.raises(pydantic.ValidationError):
        AlgoWorkerConfig("http://127.0.0.1:1", TOKEN, max_connections=0)
    with pytest.raises(pydantic.ValidationError):
        AlgoWorkerConfig("http://127.0.0.1:1", TOKEN, max_keepalive_connections=0)


async def test_a_request_waits_for_a_connection_held_by_streams(
    sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    config = AlgoWorkerConfig(sandbox.base_url, sandbox.token, timeout=10.0, max_connections=2)
    with trio.fail_after(60):
        async with (
            AsyncKiteAlgoWorkerClient(config, environ={}) as client,  # its own transport
            client.stream_ticks(["NSE:INFY"]) as first,
        ):
            await first.__anext__()
            async with client.stream_ticks(["NSE:TCS"]) as second:
                await second.__anext__()
                with trio.move_on_after(5) as waited:  # both connections are streaming
                    await client.get_quotes(["NSE:INFY"])
                assert waited.cancelled_caught
                with pytest.raises(TransportError):  # past the timeout: the pool is full
                    await client.get_quotes(["NSE:INFY"])
            quotes = await client.get_quotes(["NSE:INFY"])  # the second stream let its go
            assert "NSE:INFY" in quotes["quotes"]
