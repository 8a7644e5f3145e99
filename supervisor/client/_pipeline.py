"""The one request pipeline: every HTTP call of the client goes through :class:`Pipeline`.

Auth header, ``Accept``/``Content-Type``, the session nonce header, query normalisation
(``None`` dropped, booleans as ``true``/``false``, contract §1.3), foreign exceptions mapped to
``TransportError`` ``from exc``, non-2xx mapped by :func:`error_for_response` with the route
template (never the URL), empty/204 → ``{}``, non-JSON → ``{"raw": text}`` (contract §1.3).
The token appears only in the ``Authorization`` header. With an order-rate limiter, a call to
one of :data:`._rate_limit.ORDER_ENDPOINTS` first waits for its slot of the account's budget.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from ._config import AlgoWorkerConfig
from ._endpoints import Endpoint
from ._errors import TransportError, error_for_response
from ._models import Doc, to_doc
from ._rate_limit import ORDER_ENDPOINTS

if TYPE_CHECKING:
    from ._rate_limit import OrderRateLimiter

__all__ = ["Pipeline", "normalise_query"]

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def normalise_query(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Drop ``None`` values; booleans become ``"true"``/``"false"``; lists become CSV."""
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out


def decode_body(content: bytes, text: Callable[[], str]) -> Any:
    """Decode a response body per contract §1.3. ``text()`` (the body decoded by its charset)
    is called only for the non-JSON fallback: decoding it for every JSON answer cost a
    heartbeat measurable CPU."""
    if not content.strip():
        return Doc()
    try:
        return to_doc(_decoder.decode(content))
    except msgspec.DecodeError:
        return Doc(raw=text())


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _run_id(path_params: Mapping[str, object] | None, body: Any) -> str:
    # the run a call trades for: in the path (intents, exit) or the body (cancel, modify)
    run_id = (path_params or {}).get("run_id")
    if run_id is None and isinstance(body, Mapping):
        run_id = body.get("strategy_run_id")
    return "" if run_id is None else str(run_id)


IntentObserver = Callable[[str, str], None]  # (run id, outcome: the answer's status or error:<type>)


class Pipeline:
    """Owns one ``httpx.AsyncClient``. ``call`` blocks for one HTTP exchange."""

    def __init__(
        self,
        config: AlgoWorkerConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        order_limiter: OrderRateLimiter | None = None,
        on_intent: IntentObserver | None = None,
    ) -> None:
        self.config = config
        self.order_limiter = order_limiter
        self.on_intent = on_intent
        self._api_base = config.api_base
        self._secrets = (config.token.get_secret_value(),)
        self._http = httpx.AsyncClient(
            base_url=config.api_base,
            headers={
                "Authorization": f"Bearer {config.token.get_secret_value()}",
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            timeout=config.timeout,
            transport=transport,
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_keepalive_connections,
            ),
        )

    def __repr__(self) -> str:
        return f"Pipeline(api_base={self.config.api_base!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    def _request(
        self,
        endpoint: Endpoint,
        path_params: Mapping[str, object],
        params: Mapping[str, Any] | None,
        body: Any,
        nonce: str | None,
    ) -> httpx.Request:
        # An absolute URL and None for no query or extra headers: httpx then parses the URL
        # once instead of three times (merging a relative path into base_url, then an empty
        # query), a measurable share of a heartbeat's CPU.
        content = _encoder.encode(body) if body is not None else None
        return self._http.build_request(
            endpoint.method,
            self._api_base + endpoint.format(path_params),
            params=normalise_query(params) or None,
            content=content,
            headers={"X-Worker-Session-Nonce": nonce} if nonce else None,
        )

    async def call(
        self,
        endpoint: Endpoint,
        path_params: Mapping[str, object] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        nonce: str | None = None,
        order_cost: int = 1,
    ) -> Any:
        """One request; returns the decoded JSON (``Doc``/list). Raises ``TransportError``
        when nothing answered and an ``APIError`` subclass for non-2xx. An order call
        (``order_cost`` orders; 0 for one that places none) may first wait for the order-rate
        budget and raise ``OrderRateLimitedError``."""
        if self.order_limiter is not None and order_cost and endpoint.name in ORDER_ENDPOINTS:
            await self.order_limiter.acquire(
                _run_id(path_params, body), order_cost, what=f"{endpoint.method} {endpoint.path}"
            )
        request = self._request(endpoint, path_params or {}, params, body, nonce)
        observe = self.on_intent if endpoint.name == "intents" else None
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            if observe is not None:
                observe(_run_id(path_params, body), "error:TransportError")
            raise TransportError(f"{endpoint.method} {endpoint.path}: {type(exc).__name__}") from exc
        data = decode_body(response.content, lambda: response.text)
        if response.status_code >= 300:
            error = error_for_response(
                response.status_code,
                data,
                method=endpoint.method,
                route=endpoint.path,
                retry_after=_retry_after(response),
                secrets=self._secrets,
            )
            if observe is not None:
                observe(_run_id(path_params, body), f"error:{type(error).__name__}")
            raise error
        if observe is not None:
            # every order intent is counted here, whichever path placed it (ctx.run, ctx.client)
            status = data.get("status") if isinstance(data, Mapping) else None
            observe(_run_id(path_params, body), str(status or "unknown"))
        return data

    @asynccontextmanager
    async def open_stream(
        self,
        endpoint: Endpoint,
        path_params: Mapping[str, object] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open an SSE response (status checked, errors mapped before iteration starts).
        No read timeout here: the stream layer enforces its own idle timeout."""
        request = self._request(endpoint, path_params or {}, params, None, None)
        request.extensions["timeout"] = httpx.Timeout(self.config.timeout, read=None).as_dict()
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise TransportError(f"{endpoint.method} {endpoint.path}: {type(exc).__name__}") from exc
        try:
            if response.status_code >= 300:
                try:
                    content = await response.aread()
                except httpx.HTTPError as exc:
                    raise TransportError(f"{endpoint.method} {endpoint.path}: {type(exc).__name__}") from exc
                data = decode_body(content, lambda: content.decode(errors="replace"))
                raise error_for_response(
                    response.status_code,
                    data,
                    method=endpoint.method,
                    route=endpoint.path,
                    retry_after=_retry_after(response),
                    secrets=self._secrets,
                )
            yield response
        finally:
            await response.aclose()
