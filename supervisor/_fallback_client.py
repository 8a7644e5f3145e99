"""A stop-gap worker client: only what the daemon itself needs, used while
``supervisor.client.AsyncKiteAlgoWorkerClient`` is absent from the tree.

:func:`supervisor._daemon.default_client_factory` prefers the real client and falls back to
this one with a warning. It covers the run lifecycle (get/create, claim, heartbeat, release,
decision events), the session-guarded trading calls ``ctx.run`` forwards (safety check,
intents, exit, risk, protection, P&L), candle reads and the four SSE streams (no reconnects:
a dropped stream raises, the strategy's restart policy takes it from there). One request pipeline,
errors mapped once with :func:`supervisor.client._errors.error_for_response`; the token is
only ever in the ``Authorization`` header, never in a message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx

from .client._errors import StreamDisconnectedError, TransportError, error_for_response
from .client._sse import SSEDecoder, SSEEnd, SSEMessage, interpret

STREAM_IDLE_S = 30.0  # the server sends a keep-alive comment after ~15 quiet seconds (§5.1)

__all__ = ["Doc", "FallbackWorkerClient"]


class Doc(dict[str, Any]):
    """A JSON object readable both ways: ``doc["can_trade"]`` and ``doc.can_trade`` (the seed's
    typed results read as attributes). A missing attribute raises ``AttributeError``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


API_PREFIX = "/api/algo-workers"


class FallbackWorkerClient:
    """Async client for the daemon's calls. Methods block on one HTTP request each and raise
    the :mod:`supervisor.client._errors` tree (``TransportError`` when nothing answered)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + API_PREFIX,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    def __repr__(self) -> str:
        return f"FallbackWorkerClient(base_url={str(self._http.base_url)!r})"

    async def __aenter__(self) -> FallbackWorkerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        route: str,
        path: str,
        *,
        nonce: str | None = None,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        headers = {"X-Worker-Session-Nonce": nonce} if nonce else {}
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(method, path, json=body, headers=headers, params=query)
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {route}: {type(exc).__name__}") from exc
        try:
            data = json.loads(response.content, object_hook=Doc) if response.content else Doc()
        except ValueError:
            data = Doc(raw=response.text)
        if response.status_code >= 400:
            raise error_for_response(response.status_code, data, method=method, route=route)
        return data

    # -- runs and sessions (§4.2, §4.3) ---------------------------------------------------
    async def get_run(self, run_id: str) -> Any:
        return await self._call("GET", "/worker/runs/{id}", f"/worker/runs/{run_id}")

    async def create_run(self, **body: Any) -> Any:
        return await self._call("POST", "/worker/runs", "/worker/runs", body=body)

    async def claim_session(self, run_id: str) -> Any:
        return await self._call(
            "POST", "/worker/runs/{id}/claim-session", f"/worker/runs/{run_id}/claim-session"
        )

    async def release_session(self, run_id: str, *, session_nonce: str) -> Any:
        route = "/worker/runs/{id}/claim-session"
        return await self._call("DELETE", route, f"/worker/runs/{run_id}/claim-session", nonce=session_nonce)

    async def run_heartbeat(
        self,
        run_id: str,
        *,
        session_nonce: str,
        status: str = "healthy",
        metrics: Mapping[str, Any] | None = None,
        worker_id: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {"status": status, "metrics": dict(metrics or {})}
        if worker_id is not None:
            body["worker_id"] = worker_id
        route = "/worker/runs/{id}/heartbeat"
        return await self._call(
            "POST", route, f"/worker/runs/{run_id}/heartbeat", nonce=session_nonce, body=body
        )

    async def log_decision_event(
        self, run_id: str, *, session_nonce: str | None = None, **payload: Any
    ) -> Any:
        route = "/worker/runs/{id}/decision-events"
        return await self._call(
            "POST", route, f"/worker/runs/{run_id}/decision-events", nonce=session_nonce, body=payload
        )

    # -- the calls ctx.run forwards ---------------------------------------------------------
    async def safety_check(self, run_id: str) -> Any:
        return await self._call(
            "GET", "/worker/runs/{id}/safety-check", f"/worker/runs/{run_id}/safety-check"
        )

    async def place_order(
        self,
        run_id: str,
        order: Mapping[str, Any],
        *,
        idempotency_key: str,
        session_nonce: str | None = None,
        safety_token: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Any:
        body: dict[str, Any] = {
            "intent_type": "place_order",
            "payload": {"order": dict(order)},
            "idempotency_key": idempotency_key,
            "metadata": dict(metadata or {}),
        }
        if safety_token is not None:
            body["safety_token"] = safety_token
        route = "/worker/runs/{id}/intents"
        return await self._call(
            "POST", route, f"/worker/runs/{run_id}/intents", nonce=session_nonce, body=body
        )

    async def exit_run(self, run_id: str, *, session_nonce: str | None = None, **body: Any) -> Any:
        route = "/worker/runs/{id}/exit"
        return await self._call("POST", route, f"/worker/runs/{run_id}/exit", nonce=session_nonce, body=body)

    async def patch_risk(
        self, run_id: str, risk: Mapping[str, Any], *, session_nonce: str | None = None
    ) -> Any:
        route = "/worker/runs/{id}/risk"
        return await self._call(
            "PATCH", route, f"/worker/runs/{run_id}/risk", nonce=session_nonce, body=dict(risk)
        )

    async def update_backend_protection(
        self, run_id: str, protection: Mapping[str, Any], *, session_nonce: str | None = None
    ) -> Any:
        route = "/worker/runs/{id}/protection"
        body = protection.to_dict() if hasattr(protection, "to_dict") else dict(protection)
        return await self._call(
            "PATCH", route, f"/worker/runs/{run_id}/protection", nonce=session_nonce, body=body
        )

    async def get_run_pnl(self, run_id: str) -> Any:
        return await self._call("GET", "/worker/runs/{id}/pnl", f"/worker/runs/{run_id}/pnl")

    # -- market reads -------------------------------------------------------------------------
    async def get_candles(self, instrument: str, *, interval: str = "5minute", lookback: int = 50) -> Any:
        params = {"symbol": instrument, "interval": interval, "lookback": lookback}
        return await self._call("GET", "/worker/market/candles", "/worker/market/candles", params=params)

    async def get_historical_candles(
        self, instrument: str | int, *, timeframe: str = "day", **params: Any
    ) -> Any:
        key = "instrument_token" if isinstance(instrument, int) else "symbol"
        query = {key: instrument, "timeframe": timeframe, **params}
        route = "/worker/market/history"
        return await self._call("GET", route, route, params=query)

    # -- streams (§5): async context managers yielding decoded payload dicts -----------------
    @asynccontextmanager
    async def _stream(self, route: str, params: Mapping[str, Any]) -> AsyncIterator[AsyncIterator[Any]]:
        query = {k: v for k, v in params.items() if v is not None}
        timeout = httpx.Timeout(self._http.timeout.connect, read=STREAM_IDLE_S)
        try:
            async with self._http.stream("GET", route, params=query, timeout=timeout) as response:
                if response.status_code >= 400:
                    body = await response.aread()
                    try:
                        data: Any = httpx.Response(response.status_code, content=body).json()
                    except ValueError:
                        data = {"raw": body.decode(errors="replace")}
                    raise error_for_response(response.status_code, data, method="GET", route=route)
                yield _events(response, route)
        except httpx.HTTPError as exc:
            raise StreamDisconnectedError(f"stream {route}: {type(exc).__name__}") from exc

    def stream_ticks(self, instruments: Sequence[str], mode: str = "quote") -> Any:
        tokens = [str(i) for i in instruments if str(i).isdigit()]
        symbols = [str(i) for i in instruments if not str(i).isdigit()]
        params = {"symbols": ",".join(symbols), "tokens": ",".join(tokens), "mode": mode}
        return self._stream("/worker/market/ticks/stream", params)

    def stream_candles(self, instrument: str, interval: str = "5minute") -> Any:
        return self._stream("/worker/market/candles/stream", {"symbol": instrument, "interval": interval})

    def stream_run_pnl(self, run_id: str, interval_seconds: float = 1.0) -> Any:
        return self._stream(f"/worker/runs/{run_id}/pnl/stream", {"interval_seconds": interval_seconds})

    def stream_timeline(self, run_id: str, after_cursor: int = 0) -> Any:
        return self._stream(f"/worker/runs/{run_id}/timeline/stream", {"after_cursor": after_cursor})


async def _events(response: httpx.Response, route: str) -> AsyncIterator[Any]:
    decoder = SSEDecoder()
    async for chunk in response.aiter_raw():
        for item in decoder.feed(chunk):
            if isinstance(item, SSEMessage):
                result = interpret(item, route=route)
                if isinstance(result, SSEEnd):
                    return
                if result is not None:
                    payload = result.payload
                    yield Doc(payload) if isinstance(payload, dict) else payload
    raise StreamDisconnectedError(f"stream {route} closed without an end event")
