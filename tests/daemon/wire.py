"""A stand-in async worker client for the daemon tests until ``supervisor.client``'s
``AsyncKiteAlgoWorkerClient`` lands: the few calls the daemon makes, over real HTTP to the
sandbox, with the project's error mapping. Not product code."""

from __future__ import annotations

from typing import Any

import httpx

from supervisor.client._errors import TransportError, error_for_response

PREFIX = "/api/algo-workers"


class WireClient:
    def __init__(self, base_url: str, token: str) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + PREFIX,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=30.0,
        )
        self.calls: list[tuple[str, str]] = []

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, route: str, path: str, *, nonce: str | None = None, body: Any = None
    ) -> Any:
        headers = {"X-Worker-Session-Nonce": nonce} if nonce else {}
        self.calls.append((method, route))
        try:
            response = await self._http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {route}: {type(exc).__name__}") from exc
        data = response.json() if response.content else {}
        if response.status_code >= 400:
            raise error_for_response(response.status_code, data, method=method, route=route)
        return data

    async def get_run(self, run_id: str) -> Any:
        return await self._call("GET", "/worker/runs/{id}", f"/worker/runs/{run_id}")

    async def create_run(self, **body: Any) -> Any:
        return await self._call("POST", "/worker/runs", "/worker/runs", body=body)

    async def claim_session(self, run_id: str) -> Any:
        return await self._call("POST", "claim", f"/worker/runs/{run_id}/claim-session")

    async def release_session(self, run_id: str, *, session_nonce: str) -> Any:
        return await self._call(
            "DELETE", "release", f"/worker/runs/{run_id}/claim-session", nonce=session_nonce
        )

    async def run_heartbeat(
        self, run_id: str, *, session_nonce: str, status: str = "healthy", metrics: Any = None
    ) -> Any:
        body = {"status": status, "metrics": metrics or {}}
        return await self._call(
            "POST", "heartbeat", f"/worker/runs/{run_id}/heartbeat", nonce=session_nonce, body=body
        )

    async def log_decision_event(
        self, run_id: str, *, session_nonce: str | None = None, **payload: Any
    ) -> Any:
        return await self._call(
            "POST", "decision", f"/worker/runs/{run_id}/decision-events", nonce=session_nonce, body=payload
        )

    async def safety_check(self, run_id: str) -> Any:
        return await self._call("GET", "safety", f"/worker/runs/{run_id}/safety-check")

    async def place_order(self, run_id: str, order: Any, *, session_nonce: str, **kwargs: Any) -> Any:
        body = {"order": order, **kwargs}
        return await self._call(
            "POST", "intents", f"/worker/runs/{run_id}/intents", nonce=session_nonce, body=body
        )

    async def exit_run(self, run_id: str, *, session_nonce: str, **kwargs: Any) -> Any:
        return await self._call(
            "POST", "exit", f"/worker/runs/{run_id}/exit", nonce=session_nonce, body=kwargs
        )
