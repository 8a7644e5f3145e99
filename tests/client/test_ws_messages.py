"""The sans-IO part of the WebSocket streams: URLs, messages, close codes, what is retried."""

from __future__ import annotations

import pytest

from supervisor.client import (
    AuthError,
    BrokerValidationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    StreamDisconnectedError,
    StreamError,
)
from supervisor.client._errors import ErrorClass, classify_error
from supervisor.client._ws_messages import WsData, WsEnd, close_error, handshake_error, interpret, ws_url

T, R, D = ErrorClass.TRANSIENT, ErrorClass.REQUEST, ErrorClass.DENIED

SECRET = "kwa_" + "s" * 43
ROUTE = "/worker/ws/runs/{run_id}/pnl"


def test_urls_follow_the_base_scheme_and_omit_empty_values() -> None:
    url = ws_url(
        "http://127.0.0.1:8000/", "/api/algo-workers", "/worker/ws/market/ticks",
        {"token": SECRET, "symbols": "NSE:INFY,NSE:M&M", "tokens": "", "mode": None},
    )  # fmt: skip
    path = "ws://127.0.0.1:8000/api/algo-workers/worker/ws/market/ticks"
    assert url == f"{path}?token={SECRET}&symbols=NSE%3AINFY%2CNSE%3AM%26M"
    assert ws_url("https://h/base", "api", "worker/ws/x", {}) == "wss://h/base/api/worker/ws/x"
    with pytest.raises(ValueError, match="http, https, ws or wss"):
        ws_url("ftp://h", "/api", "/x", {})


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('{"event": "snapshot", "data": {"quotes": {}}}', WsData("snapshot", {"quotes": {}})),
        (b'{"event": "ticks", "data": {"ticks": [1]}}', WsData("ticks", {"ticks": [1]})),
        ('{"event": "end", "data": {"detail": "gone"}}', WsEnd({"detail": "gone"})),
        ('{"event": "heartbeat", "data": {"strategy_run_id": "r"}}', None),
        ('{"data": 1, "extra": true}', WsData("message", 1)),
    ],
)  # fmt: skip
def test_messages(message: str | bytes, expected: object) -> None:
    assert interpret(message, route=ROUTE) == expected


def test_error_events_and_bad_data_raise_stream_errors_without_the_token() -> None:
    with pytest.raises(StreamError, match=r"stream error at .*: bad \*\*\*") as error:
        interpret(
            f'{{"event": "error", "data": {{"detail": "bad {SECRET}"}}}}', route=ROUTE, secrets=[SECRET]
        )
    assert SECRET not in str(error.value)
    assert classify_error(error.value) is T  # an upstream failure reported in-band (§5.2)
    for bad in ("not json", "[1, 2]", '{"event": 3}'):
        with pytest.raises(StreamError, match="undecodable message"):
            interpret(bad, route=ROUTE)
    with pytest.raises(StreamError) as none_known:
        interpret('{"event": "error", "data": {"detail": "At least one valid symbol or instrument '
                  'token is required"}}', route=ROUTE)  # fmt: skip
    assert classify_error(none_known.value) is R


@pytest.mark.parametrize(
    ("code", "cls", "status", "verdict"),
    [
        (4400, BrokerValidationError, 400, R),
        (4401, AuthError, 401, D),
        (4403, PermissionDeniedError, 403, D),
        (4404, NotFoundError, 404, R),
        (4429, RateLimitedError, 429, T),
        (4503, ServerError, 503, T),
        (1008, PermissionDeniedError, 403, D),
        (1000, StreamDisconnectedError, 0, T),
        (1006, StreamDisconnectedError, 0, T),
        (1011, StreamDisconnectedError, 0, T),
        (1012, StreamDisconnectedError, 0, T),
        (1013, StreamDisconnectedError, 0, T),
        (None, StreamDisconnectedError, 0, T),
    ],
)
def test_close_codes_map_onto_the_error_tree(
    code: int | None, cls: type, status: int, verdict: ErrorClass
) -> None:
    error = close_error(code, f"why {SECRET}", route=ROUTE, secrets=[SECRET])
    assert type(error) is cls and error.status_code == status
    assert error.response_body == {"detail": "why ***", "close_code": code}
    assert SECRET not in str(error) and classify_error(error) is verdict


def test_handshake_refusals() -> None:
    refused = handshake_error(403, b"", route=ROUTE)
    assert isinstance(refused, PermissionDeniedError) and classify_error(refused) is D
    assert handshake_error(404, b'{"detail": "Not Found"}', route=ROUTE).message == "Not Found"
    assert classify_error(handshake_error(502, b"<html>bad gateway</html>", route=ROUTE)) is T
