"""Candle intervals are checked before the network, with the valid names in the message."""

from __future__ import annotations

import httpx
import pytest

from supervisor.client import (
    CANDLE_INTERVALS,
    INTERVAL_ALIASES,
    AlgoWorkerConfig,
    AsyncKiteAlgoWorkerClient,
    ClientValidationError,
    check_interval,
)
from supervisor.sandbox._candles import ALIASES, INTERVALS


def test_the_names_are_the_backends() -> None:
    # the sandbox follows the contract's list (§4.13): the client's constants must agree
    assert list(CANDLE_INTERVALS) == list(INTERVALS)
    assert dict(INTERVAL_ALIASES) == ALIASES
    assert [check_interval(n.upper()) for n in CANDLE_INTERVALS] == list(CANDLE_INTERVALS)
    assert check_interval(" 1H ") == "60minute"


async def test_a_wrong_interval_never_reaches_the_network() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(500)

    config = AlgoWorkerConfig(base_url="http://127.0.0.1:9", token="kwa_" + "x" * 43)
    async with AsyncKiteAlgoWorkerClient(config, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(
            ClientValidationError, match="invalid candle interval '1min': use one of minute,"
        ) as e:
            await client.get_candles("NSE:INFY", interval="1min")
        assert e.value.rule == "interval"
        with pytest.raises(ClientValidationError, match="'5mins'") as e:
            await client.get_historical_candles("NSE:INFY", timeframe="5mins")
        assert e.value.rule == "timeframe"
        with pytest.raises(ClientValidationError, match="aliases 1m, min, 3m"):
            client.stream_candles("NSE:INFY", interval="2minute")
    assert requests == []
