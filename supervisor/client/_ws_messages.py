"""WebSocket streams, sans-IO (contract §5.6): URLs, and messages and close codes in, results out.

* :func:`ws_url` builds a socket's URL from the HTTP base URL (``http`` → ``ws``, ``https`` →
  ``wss``), the API prefix, the path and the query, leaving out empty values as the SDK does.
  The URL holds the worker token (§2.1: ``?token=``): it must never reach a log, an error or a
  repr; nothing in this package puts it in one.
* :func:`interpret` applies the stream semantics to one text message ``{"event", "data"}``, as
  :func:`._sse.interpret` does to an SSE message: ``error`` raises ``StreamError``, ``end``
  marks a graceful end, ``heartbeat`` is skipped (``None``), anything else is a payload.
* :func:`close_error` maps how a socket ended onto the client's error tree, once: 4000 + status
  (4400, 4401, 4403, 4404, ...) is the server refusing the request, the ``APIError`` of that
  status; 1008 (policy violation) a refusal too; every other close is
  ``StreamDisconnectedError``. :func:`handshake_error` does the same for an HTTP answer in place
  of the handshake. Whether to retry is then ``_errors.classify_error``'s call, as for every
  other retrying loop (style rule 10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec

from ._errors import (
    APIError,
    KiteAlgoWorkerError,
    PermissionDeniedError,
    StreamDisconnectedError,
    StreamError,
    error_for_response,
)

__all__ = [
    "WsData",
    "WsEnd",
    "close_error",
    "handshake_error",
    "interpret",
    "ws_url",
]

POLICY_VIOLATION = 1008


class _Message(msgspec.Struct, frozen=True):
    event: str = "message"
    data: Any = None


_decode_message = msgspec.json.Decoder(_Message).decode


class WsData(msgspec.Struct, frozen=True):
    """A payload to hand to the caller, with the event name it came under."""

    event: str
    payload: Any


class WsEnd(msgspec.Struct, frozen=True):
    """The server ended the stream (``end``); ``payload`` is its data."""

    payload: Any


def ws_url(base_url: str, api_prefix: str, path: str, params: Mapping[str, Any]) -> str:
    """The socket URL; ``ValueError`` for a base URL that is not http(s) or ws(s)."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError("base_url must be an http, https, ws or wss URL")
    full = "/".join(p.strip("/") for p in (parts.path, api_prefix, path) if p.strip("/"))
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return urlunsplit((scheme, parts.netloc, "/" + full, query, ""))


def _mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def interpret(message: str | bytes, *, route: str, secrets: Sequence[str] = ()) -> WsData | WsEnd | None:
    """One message with the semantics of §5.6 (see module docstring).

    Raises :class:`StreamError` for an ``error`` event (message ``stream error at <route>:
    <detail>``, ``response_body`` its data) and for a message that is not a JSON object.
    ``route`` is a path template, never the URL; ``secrets`` are masked in error details.
    """
    try:
        decoded = _decode_message(message)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StreamError(f"undecodable message at {route}: {exc}", response_body=str(message)) from exc
    event, data = decoded.event, decoded.data
    if event == "error":
        detail = str(data.get("detail", data) if isinstance(data, Mapping) else data)
        raise StreamError(f"stream error at {route}: {_mask(detail, secrets)}", response_body=data)
    if event == "end":
        return WsEnd(data)
    if event == "heartbeat":
        return None
    return WsData(event, data)


def close_error(
    code: int | None, reason: str | None, *, route: str, secrets: Sequence[str] = ()
) -> KiteAlgoWorkerError:
    """The error for a socket that closed with ``code`` before an ``end`` event."""
    text = _mask(reason or "", secrets)
    body = {"detail": text, "close_code": code}
    if code is not None and 4000 <= code < 5000:
        return error_for_response(code - 4000, body, method="WEBSOCKET", route=route, secrets=secrets)
    if code == POLICY_VIOLATION:
        return PermissionDeniedError(text or f"{route} refused (1008)", status_code=403, response_body=body)
    return StreamDisconnectedError(
        f"websocket {route} closed ({code}{': ' + text if text else ''})", response_body=body
    )


def handshake_error(status: int, body: bytes | None, *, route: str, secrets: Sequence[str] = ()) -> APIError:
    """The error for an HTTP ``status`` answered instead of the handshake (a server that
    refuses before accepting, e.g. with 403)."""
    raw = body or b""
    try:
        doc: Any = msgspec.json.decode(raw) if raw.strip() else {}
    except msgspec.DecodeError:
        doc = {"detail": raw.decode("utf-8", "replace")}
    return error_for_response(status, doc, method="WEBSOCKET", route=route, secrets=secrets)
