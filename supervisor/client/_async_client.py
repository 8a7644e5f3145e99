"""The async (trio) worker client: one method per endpoint of the seed's surface.

Each method is a few lines over the shared :class:`Pipeline`; all of them block on one HTTP
exchange and raise the :mod:`._errors` tree (``TransportError`` when nothing answered,
``APIError`` subclasses for non-2xx, ``ClientValidationError`` before any request). Streams
are async context managers (see :mod:`._streams`; their WebSocket twins are ``client.ws``,
:mod:`._ws`).

Divergences smoothed over (contract §11): safety-check and health snapshots are tolerant
(items 1-2); ``log_decision_event`` accepts the seed form and sends the server form plus the
nonce (items 3-4); quotes come back as a dict keyed by the requested identifier (item 6);
funds gain the seed's ``net`` (item 7); ``create_run`` recovers an existing run by id,
get-then-create (item 11); creating a live run, and trading on one, is refused unless
``KITE_ALGO_ENABLE_LIVE=1`` (item 15; a run of unknown mode is looked up first).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, get_args

import httpx
import trio

from ._backoff import Backoff
from ._config import DEFAULT_ACCOUNT_SCOPE as DEFAULT_SCOPE
from ._config import AlgoWorkerConfig, live_enabled, require_live_enabled
from ._endpoints import ENDPOINTS
from ._endpoints_execution import ExecutionEndpoints
from ._endpoints_market import MarketDataEndpoints, instrument_param, split_instruments
from ._endpoints_reads import ReadSurfaceEndpoints
from ._errors import BrokerValidationError, ClientValidationError
from ._intervals import check_interval
from ._managed import open_managed_run, recover_or_create
from ._models import (
    Doc,
    RunHealthSnapshot,
    SafetyCheckResult,
    TimelineSnapshot,
    to_struct,
    with_seed_funds_keys,
)
from ._order_rules import validate_order
from ._pipeline import IntentObserver, Pipeline
from ._run_calls import DecisionAction, DecisionType
from ._streams import DEFAULT_IDLE_TIMEOUT, EventStream, follow_timeline, open_event_stream

if TYPE_CHECKING:
    from ._managed import AsyncManagedRun, RunConfig
    from ._options import AsyncOptionsNamespace
    from ._rate_limit import OrderRateLimiter
    from ._ws import AsyncWebSocketStreams

__all__ = ["AsyncKiteAlgoWorkerClient", "check_idempotency_key"]

E = ENDPOINTS
# one definition of the §4.12 values: the Literal types ctx.run's signature shows
DECISION_TYPES = frozenset(get_args(DecisionType))
DECISION_ACTIONS = frozenset(get_args(DecisionAction))


def check_idempotency_key(key: str) -> str:
    """Strip and check 8..160 characters (contract §4.5.1); raises ``ClientValidationError``."""
    stripped = (key or "").strip()
    if not 8 <= len(stripped) <= 160:
        raise ClientValidationError(
            "idempotency_key must be 8..160 characters after stripping", rule="idempotency_key"
        )
    return stripped


def _heartbeat_body(status: str, metrics: Mapping[str, Any] | None, worker_id: str | None) -> dict[str, Any]:
    # the SDK always sends status and metrics, worker_id only when given (§4.1)
    body: dict[str, Any] = {"status": status, "metrics": dict(metrics or {})}
    if worker_id is not None:
        body["worker_id"] = worker_id
    return body


def _current_candle(event: Any) -> Any:
    if isinstance(event, dict) and "current" not in event and isinstance(event.get("candle"), Mapping):
        event["current"] = event["candle"]
    return event


def _decision_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Seed form (event_type/summary/details) → server form (decision_type/action/metadata)."""
    body = dict(payload)
    event_type = str(body.pop("event_type", "") or "")
    details = body.pop("details", None)
    metadata = dict(body.get("metadata") or {})
    if details:
        metadata.update(details)
    if event_type:
        metadata.setdefault("event_type", event_type)
    if "decision_type" not in body:
        head = event_type.split(".", 1)[0].replace("-", "_")
        # "signal.generated" -> signal, "risk.updated" -> risk_update, anything else -> note
        body["decision_type"] = head if head in DECISION_TYPES else {"risk": "risk_update"}.get(head, "note")
    body.setdefault("action", "observe")
    if body["action"] not in DECISION_ACTIONS:
        metadata.setdefault("action", body["action"])
        body["action"] = "observe"
    body["metadata"] = metadata
    return body


class AsyncKiteAlgoWorkerClient(MarketDataEndpoints, ExecutionEndpoints, ReadSurfaceEndpoints):
    """Async worker API client. Use ``async with AsyncKiteAlgoWorkerClient(cfg) as client``.

    ``transport`` is the test seam; ``environ`` is read for the live gate (default
    ``os.environ``); ``stream_idle_timeout`` bounds silence on streams; ``order_limiter`` (one
    per account, shared by every client on its token) makes order calls wait for the account's
    order-rate budget or raise ``OrderRateLimitedError`` (see :mod:`._rate_limit`).
    """

    def __init__(
        self,
        config: AlgoWorkerConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
        stream_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        order_limiter: OrderRateLimiter | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._pipeline = Pipeline(config, transport, order_limiter=order_limiter)
        self._wall_clock = wall_clock  # the one read of the time: ``lookback_days`` windows end now
        self._environ = os.environ if environ is None else environ
        self._idle = stream_idle_timeout
        self._run_modes: dict[str, str] = {}  # run id -> execution_mode, for the live gate
        self._key_locks: dict[tuple[str, str], trio.Lock] = {}
        self._options: AsyncOptionsNamespace | None = None
        self._ws: AsyncWebSocketStreams | None = None

    def __repr__(self) -> str:
        return f"AsyncKiteAlgoWorkerClient(base_url={self.config.base_url!r})"

    async def __aenter__(self) -> AsyncKiteAlgoWorkerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def observe_intents(self, observer: IntentObserver | None) -> None:
        """``observer(run_id, outcome)`` hears of every order intent this client sends (the
        answer's ``status``, or ``error:<type>``), whichever call or caller placed it: the
        daemon's accounting of ``ctx.run`` and ``ctx.client`` orders alike. Never blocks."""
        self._pipeline.on_intent = observer

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._pipeline.aclose()

    @property
    def options(self) -> AsyncOptionsNamespace:
        """The options namespace (§4.15)."""
        if self._options is None:
            from ._options import AsyncOptionsNamespace

            self._options = AsyncOptionsNamespace(self._pipeline)
        return self._options

    @property
    def ws(self) -> AsyncWebSocketStreams:
        """The WebSocket twins of the tick, candle and P&L streams (§5.6; see :mod:`._ws`):
        ``async with client.ws.stream_ticks(["NSE:INFY"]) as ticks``."""
        if self._ws is None:
            from ._ws import AsyncWebSocketStreams

            self._ws = AsyncWebSocketStreams(
                self.config, idle_timeout=self._idle, shape_candle=_current_candle
            )
        return self._ws

    # -- live gate ---------------------------------------------------------------------------
    def _note_run(self, doc: Any) -> Any:
        if isinstance(doc, Mapping):
            run_id, mode = doc.get("strategy_run_id"), doc.get("execution_mode")
            if run_id and isinstance(mode, str):
                self._run_modes[str(run_id)] = mode
        return doc

    async def _gate(self, run_id: str) -> None:
        """Refuse a trading call on a live run unless ``KITE_ALGO_ENABLE_LIVE=1``.

        With the gate closed, a run this client has not seen yet (created by an earlier
        process) is looked up once, so no live order can slip through unrecognised.
        """
        if live_enabled(self._environ):
            return
        mode = self._run_modes.get(run_id)
        if mode is None:
            mode = (await self.get_run(run_id)).get("execution_mode")
        require_live_enabled(mode, self._environ)

    # -- liveness (§4.1) ---------------------------------------------------------------------
    async def health(self) -> Any:
        """The token check (contract §4.1). The server says ``status: "ok"``; the seed documents
        ``"healthy"`` (§11 #5), so an ``ok`` is answered as ``healthy``, with the token's grants
        kept. Blocks on I/O."""
        doc = await self._pipeline.call(E["health"])
        if isinstance(doc, dict) and doc.get("status") == "ok":
            doc["status"] = "healthy"
        return doc

    async def heartbeat(
        self,
        *,
        status: str = "healthy",
        metrics: Mapping[str, Any] | None = None,
        worker_id: str | None = None,
    ) -> Any:
        body = _heartbeat_body(status, metrics, worker_id)
        return await self._pipeline.call(E["heartbeat"], body=body)

    # -- runs and sessions (§4.2, §4.3) ------------------------------------------------------
    async def create_run(
        self, *, template_id: str, account_scope: str, execution_mode: str, **fields: Any
    ) -> Any:
        """Create the run, or recover it (seed ``create_run``): with a ``strategy_run_id`` the run
        is read first and returned unchanged when it exists (get-then-create, never create-first;
        ``RunConfigMismatchError`` if its template, scope or mode differ). ``backend_protection``
        (a :class:`BackendProtection` or dict) travels as ``runtime_state.backend_protection``.
        Raises ``LiveTradingRefusedError`` for live without the gate, before any request."""
        require_live_enabled(execution_mode, self._environ)
        wanted = {**fields, "template_id": template_id, "account_scope": account_scope}
        wanted["execution_mode"] = execution_mode
        run, _created = await recover_or_create(self.get_run, self._post_run, wanted)
        return run

    async def _post_run(self, fields: dict[str, Any]) -> Any:
        body = {k: v for k, v in fields.items() if v is not None}
        protection = body.pop("backend_protection", None)
        if protection is not None:
            config = protection.to_dict() if hasattr(protection, "to_dict") else dict(protection)
            body["runtime_state"] = {**dict(body.get("runtime_state") or {}), "backend_protection": config}
        return self._note_run(await self._pipeline.call(E["create_run"], body=body))

    async def get_run(self, run_id: str) -> Any:
        return self._note_run(await self._pipeline.call(E["get_run"], {"run_id": run_id}))

    async def get_run_health_snapshot(self, run_id: str) -> RunHealthSnapshot:
        return to_struct(await self.get_run(run_id), RunHealthSnapshot)

    async def get_run_protection_state(self, run_id: str) -> Any:
        """The run's ``runtime_state.backend_protection_state`` (§4.11); empty when it has none."""
        run = await self.get_run(run_id)
        state = (run.get("runtime_state") or {}).get("backend_protection_state")
        return state if isinstance(state, Mapping) else Doc()

    async def claim_session(self, run_id: str) -> Any:
        return await self._pipeline.call(E["claim_session"], {"run_id": run_id})

    async def release_session(self, run_id: str, *, session_nonce: str) -> Any:
        return await self._pipeline.call(E["release_session"], {"run_id": run_id}, nonce=session_nonce)

    async def run_heartbeat(
        self,
        run_id: str,
        *,
        session_nonce: str | None = None,
        status: str = "healthy",
        metrics: Mapping[str, Any] | None = None,
        worker_id: str | None = None,
    ) -> Any:
        body = _heartbeat_body(status, metrics, worker_id)
        return await self._pipeline.call(
            E["run_heartbeat"], {"run_id": run_id}, body=body, nonce=session_nonce
        )

    async def safety_check(self, run_id: str) -> SafetyCheckResult:
        return to_struct(await self._pipeline.call(E["safety_check"], {"run_id": run_id}), SafetyCheckResult)

    # -- intents (§4.5) ----------------------------------------------------------------------
    @asynccontextmanager
    async def _key_lock(self, run_id: str, key: str) -> AsyncIterator[None]:
        # Never two concurrent requests with the same key: the second waits for the first's
        # answer and then gets the server's replay.
        slot = (run_id, key)
        lock = self._key_locks.setdefault(slot, trio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._key_locks.pop(slot, None)

    async def _intent(
        self,
        run_id: str,
        intent_type: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str,
        metadata: Mapping[str, Any] | None,
        safety_token: str | None,
        session_nonce: str | None,
        orders: int = 1,
    ) -> Any:
        key = check_idempotency_key(idempotency_key)
        await self._gate(run_id)
        body: dict[str, Any] = {
            "intent_type": intent_type,
            "payload": payload,
            "idempotency_key": key,
            "metadata": dict(metadata or {}),
        }
        if safety_token is not None:
            body["safety_token"] = safety_token
        async with self._key_lock(run_id, key):
            return await self._pipeline.call(
                E["intents"], {"run_id": run_id}, body=body, nonce=session_nonce, order_cost=orders
            )

    async def place_order(
        self,
        run_id: str,
        order: Mapping[str, Any],
        *,
        idempotency_key: str,
        metadata: Mapping[str, Any] | None = None,
        safety_token: str | None = None,
        session_nonce: str | None = None,
    ) -> Any:
        """Validate the order (``OrderRuleError``) then submit it as an intent."""
        checked = validate_order(order)
        return await self._intent(
            run_id,
            "place_order",
            {"order": checked},
            idempotency_key=idempotency_key,
            metadata=metadata,
            safety_token=safety_token,
            session_nonce=session_nonce,
        )

    async def place_basket(
        self,
        run_id: str,
        orders: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str,
        metadata: Mapping[str, Any] | None = None,
        all_or_none: bool = False,
        dry_run: bool = False,
        safety_token: str | None = None,
        session_nonce: str | None = None,
    ) -> Any:
        checked = [validate_order(o) for o in orders]
        basket = {"orders": checked, "all_or_none": all_or_none, "dry_run": dry_run}
        # every leg is an order at the broker (the paper engine places even a dry_run basket)
        return await self._intent(
            run_id,
            "place_basket",
            {"basket": basket},
            idempotency_key=idempotency_key,
            metadata=metadata,
            safety_token=safety_token,
            session_nonce=session_nonce,
            orders=max(1, len(checked)),
        )

    async def preview_order(
        self, run_id: str, order: Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None
    ) -> Any:
        body = {"order": validate_order(order), "metadata": dict(metadata or {})}
        return await self._pipeline.call(E["preview_order"], {"run_id": run_id}, body=body)

    async def preview_basket(
        self,
        run_id: str,
        orders: Sequence[Mapping[str, Any]],
        *,
        metadata: Mapping[str, Any] | None = None,
        all_or_none: bool = False,
        idempotency_key: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {
            "orders": [validate_order(o) for o in orders],
            "all_or_none": all_or_none,
            "metadata": dict(metadata or {}),
        }
        if idempotency_key is not None:
            body["idempotency_key"] = check_idempotency_key(idempotency_key)
        return await self._pipeline.call(E["preview_basket"], {"run_id": run_id}, body=body)

    # -- broker orders (§4.8, live runs only) ------------------------------------------------
    async def list_orders(self, run_id: str) -> Any:
        return await self._pipeline.call(E["list_orders"], params={"strategy_run_id": run_id})

    async def list_trades(self, run_id: str) -> Any:
        return await self._pipeline.call(E["list_trades"], params={"strategy_run_id": run_id})

    async def get_order(self, run_id: str, order_id: str) -> Any:
        return await self._pipeline.call(
            E["get_order"], {"order_id": order_id}, params={"strategy_run_id": run_id}
        )

    async def cancel_order(
        self,
        run_id: str,
        order_id: str,
        *,
        variety: str = "regular",
        parent_order_id: str | None = None,
        session_nonce: str | None = None,
    ) -> Any:
        await self._gate(run_id)
        body: dict[str, Any] = {"strategy_run_id": run_id, "variety": variety}
        if parent_order_id is not None:
            body["parent_order_id"] = parent_order_id
        return await self._pipeline.call(
            E["cancel_order"], {"order_id": order_id}, body=body, nonce=session_nonce
        )

    async def modify_order(
        self,
        run_id: str,
        order_id: str,
        changes: Mapping[str, Any],
        *,
        variety: str = "regular",
        session_nonce: str | None = None,
    ) -> Any:
        await self._gate(run_id)
        body = {"variety": variety, **dict(changes), "strategy_run_id": run_id}
        return await self._pipeline.call(
            E["modify_order"], {"order_id": order_id}, body=body, nonce=session_nonce
        )

    # -- exit, P&L, funds (§4.9, §4.10) ------------------------------------------------------
    async def exit_run(
        self,
        run_id: str,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
        dry_run: bool = False,
        session_nonce: str | None = None,
    ) -> Any:
        """Exit the run. A known-live run without ``dry_run`` needs the live gate."""
        if not dry_run:
            await self._gate(run_id)
        body = {"reason": reason, "idempotency_key": idempotency_key, "dry_run": dry_run}
        return await self._pipeline.call(
            E["exit_run"], {"run_id": run_id}, body=body, nonce=session_nonce, order_cost=0 if dry_run else 1
        )

    async def get_run_pnl(self, run_id: str) -> Any:
        return await self._pipeline.call(E["get_run_pnl"], {"run_id": run_id})

    async def get_funds(self, *, mode: str = "paper", account_scope: str | None = None) -> Any:
        """Account funds, by default of the token's own account (seed; contract §4.10).

        Without ``account_scope``, ``KITE_ALGO_ACCOUNT_SCOPE`` is sent when set; else the token's
        scope applies, and a token without one (400 ``account_scope is required``) is asked
        again for paper funds of the seed's default scope ``kite:paper-a``. Blocks on I/O;
        raises the ``APIError`` of the answer.
        """
        if account_scope is None:
            account_scope = self._environ.get("KITE_ALGO_ACCOUNT_SCOPE") or None
        params = {"mode": mode, "account_scope": account_scope}
        try:
            doc = await self._pipeline.call(E["get_funds"], params=params)
        except BrokerValidationError as exc:
            if account_scope is not None or mode != "paper" or exc.status_code != 400:
                raise
            doc = await self._pipeline.call(E["get_funds"], params={**params, "account_scope": DEFAULT_SCOPE})
        return with_seed_funds_keys(doc)

    async def get_run_funds(self, run_id: str) -> Any:
        return with_seed_funds_keys(await self._pipeline.call(E["get_run_funds"], {"run_id": run_id}))

    # -- risk and protection (§4.11) ---------------------------------------------------------
    async def patch_risk(
        self,
        run_id: str,
        risk: Mapping[str, Any],
        *,
        reason: str | None = None,
        session_nonce: str | None = None,
    ) -> Any:
        body = {"patch": dict(risk), "reason": reason}
        return await self._pipeline.call(E["patch_risk"], {"run_id": run_id}, body=body, nonce=session_nonce)

    async def update_backend_protection(
        self,
        run_id: str,
        protection: Any,
        *,
        reason: str | None = None,
        reset_trailing: bool = True,
        session_nonce: str | None = None,
    ) -> Any:
        """``protection`` is a :class:`BackendProtection` or a plain dict."""
        config = protection.to_dict() if hasattr(protection, "to_dict") else dict(protection)
        body = {"backend_protection": config, "reason": reason, "reset_trailing": reset_trailing}
        return await self._pipeline.call(
            E["update_backend_protection"], {"run_id": run_id}, body=body, nonce=session_nonce
        )

    # -- timeline (§4.12) --------------------------------------------------------------------
    async def list_timeline(self, run_id: str, **params: Any) -> Any:
        return await self._pipeline.call(E["list_timeline"], {"run_id": run_id}, params=params)

    async def list_timeline_snapshot(self, run_id: str, **params: Any) -> TimelineSnapshot:
        return to_struct(await self.list_timeline(run_id, **params), TimelineSnapshot)

    async def log_decision_event(
        self, run_id: str, *, session_nonce: str | None = None, **payload: Any
    ) -> Any:
        """Record a decision. Accepts the seed form (``event_type``, ``summary``, ``details``)
        or the server form (``decision_type``, ``action``, ``metadata``)."""
        body = _decision_body(payload)
        return await self._pipeline.call(
            E["log_decision_event"], {"run_id": run_id}, body=body, nonce=session_nonce
        )

    # -- streams (§5) ------------------------------------------------------------------------
    def stream_ticks(
        self, instruments: Sequence[str | int], mode: str = "quote"
    ) -> AbstractAsyncContextManager[EventStream]:
        symbols, tokens = split_instruments(instruments)
        params = {"symbols": ",".join(symbols), "tokens": ",".join(map(str, tokens)), "mode": mode}
        return open_event_stream(self._pipeline, E["stream_ticks"], params=params, idle_timeout=self._idle)

    def stream_candles(
        self, instrument: str | int, interval: str = "5minute"
    ) -> AbstractAsyncContextManager[EventStream]:
        """Candle events: the snapshot (``candles`` + ``current``), then one per update, where
        the server's ``candle`` is also offered as ``current``, so the seed's
        ``event.get("current") or event`` reads every event alike (contract §5.2). An unknown
        ``interval`` raises ``ClientValidationError`` here, before any request."""
        check_interval(interval)
        params = {"interval": interval, **instrument_param(instrument)}
        return open_event_stream(
            self._pipeline, E["stream_candles"], params=params, idle_timeout=self._idle, shape=_current_candle
        )

    def stream_run_pnl(
        self, run_id: str, interval_seconds: float = 1.0
    ) -> AbstractAsyncContextManager[EventStream]:
        return open_event_stream(
            self._pipeline,
            E["stream_run_pnl"],
            {"run_id": run_id},
            params={"interval_seconds": interval_seconds},
            idle_timeout=self._idle,
        )

    def stream_timeline(self, run_id: str, **params: Any) -> AbstractAsyncContextManager[EventStream]:
        return open_event_stream(
            self._pipeline, E["stream_timeline"], {"run_id": run_id}, params=params, idle_timeout=self._idle
        )

    def follow_timeline(
        self,
        run_id: str,
        *,
        after_cursor: int = 0,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        **params: Any,
    ) -> AsyncIterator[Any]:
        """Reconnecting timeline consumer resuming from the last cursor (see
        :func:`._streams.follow_timeline`)."""

        def opener(cursor: int) -> AbstractAsyncContextManager[EventStream]:
            return self.stream_timeline(run_id, after_cursor=cursor, **params)

        return follow_timeline(opener, after_cursor=after_cursor, backoff=backoff, max_attempts=max_attempts)

    # -- managed lifecycle (see _managed) ----------------------------------------------------
    async def ensure_run(self, config: RunConfig) -> tuple[Any, bool]:
        """``create_run`` for a :class:`RunConfig`, also telling whether the run was created."""
        require_live_enabled(config.execution_mode, self._environ)
        return await recover_or_create(self.get_run, self._post_run, config.create_fields())

    def run(
        self,
        config: RunConfig,
        *,
        claim_session: bool = True,
        heartbeat_on_enter: bool = True,
        release_on_exit: bool = True,
    ) -> AbstractAsyncContextManager[AsyncManagedRun]:
        return open_managed_run(
            self,
            config,
            claim_session=claim_session,
            heartbeat_on_enter=heartbeat_on_enter,
            release_on_exit=release_on_exit,
        )
