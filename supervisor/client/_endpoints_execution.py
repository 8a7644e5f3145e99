"""The SDK 0.13 run and execution calls of the async client (contract §10): run listing, hosted
attach/progress/notify, order history, basket executions, brackets, execution events and typed
previews.

A mixin over the shared pipeline (``self._pipeline``), split from ``_async_client`` along the
endpoint-family seam like :mod:`._endpoints_market`. Every coroutine blocks on one request
(``attach_run`` and the gated bracket calls on at most two) and raises the ``_errors`` tree:
``ClientValidationError`` before any request, ``TransportError`` when nothing answered, an
``APIError`` subclass for a non-2xx answer. ``stream_execution_events`` opens an SSE stream
through the same machinery as the timeline stream (:mod:`._streams`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, cast

from ._backoff import Backoff
from ._endpoints import ENDPOINTS
from ._errors import ClientValidationError
from ._managed import attach_managed_run
from ._models import to_struct
from ._models_exec import (
    BasketExecution,
    BasketExecutionList,
    BracketActionResult,
    BracketIntent,
    BracketList,
    ExecutionEventsSnapshot,
    OrderHistory,
    OrderPreview,
    ProgressResult,
    RunList,
)
from ._order_rules import validate_order
from ._pipeline import Pipeline
from ._streams import EventStream, follow_timeline, open_event_stream

if TYPE_CHECKING:
    from ._async_client import AsyncKiteAlgoWorkerClient
    from ._managed import AsyncManagedRun, RunConfig

__all__ = ["ExecutionEndpoints", "run_list_params"]

E = ENDPOINTS


def run_list_params(limit: int, cursor: str | None) -> dict[str, Any]:
    """``limit`` 1..100 (not a bool), ``cursor`` non-empty when given (contract §4.2). Pure;
    raises ``ClientValidationError``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise ClientValidationError("limit must be an integer in 1..100", rule="list_runs.limit")
    params: dict[str, Any] = {"limit": limit}
    if cursor is not None:
        if not str(cursor).strip():
            raise ClientValidationError("cursor must not be empty", rule="list_runs.cursor")
        params["cursor"] = str(cursor).strip()
    return params


def _event_params(
    after_cursor: int, limit: int | None, basket_execution_id: str | None, event_type: str | None
) -> dict[str, Any]:
    return {
        "after_cursor": after_cursor,
        "limit": limit,
        "basket_execution_id": basket_execution_id,
        "event_type": event_type,
    }


class ExecutionEndpoints:
    """Run, hosted-child and execution-recovery methods; the host class provides ``_pipeline``,
    ``_idle`` (the stream idle timeout), ``get_run``, the previews and the live gate."""

    _pipeline: Pipeline
    _idle: float

    if TYPE_CHECKING:

        async def get_run(self, run_id: str) -> Any: ...
        async def _gate(self, run_id: str) -> None: ...
        async def preview_order(
            self, run_id: str, order: Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None
        ) -> Any: ...
        async def preview_basket(
            self,
            run_id: str,
            orders: Sequence[Mapping[str, Any]],
            *,
            metadata: Mapping[str, Any] | None = None,
            all_or_none: bool = False,
            idempotency_key: str | None = None,
        ) -> Any: ...

    # -- runs (§4.2) and hosted children (§2.5, §4.3.4, §4.3.5) ------------------------------
    async def list_runs(self, *, limit: int = 25, cursor: str | None = None) -> Any:
        """One page of this token's runs, newest first: ``{"items": [...], "next_cursor"}``.
        Pass ``next_cursor`` back as ``cursor`` until it is None. Newer servers only."""
        return await self._pipeline.call(E["list_runs"], params=run_list_params(limit, cursor))

    async def list_runs_snapshot(self, *, limit: int = 25, cursor: str | None = None) -> RunList:
        return to_struct(await self.list_runs(limit=limit, cursor=cursor), RunList)

    async def attach_run(self, run_id: str, *, session_nonce: str, config: RunConfig) -> AsyncManagedRun:
        """Attach to an existing run whose session someone else (a hosted child's parent)
        claimed: one ``get_run``, the config check of ``create_run`` (``RunConfigMismatchError``),
        then a managed run carrying ``session_nonce``. Never creates, claims, heartbeats or
        releases. ``LiveTradingRefusedError`` for a live config without the gate."""
        client = cast("AsyncKiteAlgoWorkerClient", self)  # the only class this mixin is part of
        return await attach_managed_run(client, run_id, session_nonce=session_nonce, config=config)

    async def run_progress(self, run_id: str, *, session_nonce: str, note: str | None = None) -> Any:
        """A hosted child's liveness signal (``runs:progress``; hosted runs only, so an external
        worker's token gets 403)."""
        body: dict[str, Any] = {} if note is None else {"note": str(note)}
        return await self._pipeline.call(
            E["run_progress"], {"run_id": run_id}, body=body, nonce=session_nonce
        )

    async def run_progress_snapshot(
        self, run_id: str, *, session_nonce: str, note: str | None = None
    ) -> ProgressResult:
        return to_struct(
            await self.run_progress(run_id, session_nonce=session_nonce, note=note), ProgressResult
        )

    async def notify_run(
        self,
        run_id: str,
        *,
        channels: Iterable[str],
        text: str,
        idempotency_key: str,
        subject: str | None = None,
        session_nonce: str | None = None,
    ) -> Any:
        """Publish a run-scoped notification (hosted runs only: 403 ``HOSTED_NOTIFY_UNSUPPORTED``
        otherwise). The same key with the same content is deduplicated by the server."""
        body: dict[str, Any] = {
            "channels": [str(c) for c in channels],
            "text": str(text),
            "idempotency_key": str(idempotency_key),
        }
        if subject is not None:
            body["subject"] = str(subject)
        return await self._pipeline.call(E["notify_run"], {"run_id": run_id}, body=body, nonce=session_nonce)

    # -- order history, basket executions (§4.7, §4.8) ---------------------------------------
    async def get_order_history(self, run_id: str, order_id: str) -> Any:
        """Every state the broker reported for one of the run's orders (live runs)."""
        return await self._pipeline.call(
            E["get_order_history"], {"order_id": order_id}, params={"strategy_run_id": run_id}
        )

    async def get_order_history_snapshot(self, run_id: str, order_id: str) -> OrderHistory:
        return to_struct(await self.get_order_history(run_id, order_id), OrderHistory)

    async def list_baskets(self, run_id: str, *, limit: int = 100) -> Any:
        """The run's live basket executions (paper baskets are not recorded as these)."""
        return await self._pipeline.call(E["list_baskets"], {"run_id": run_id}, params={"limit": limit})

    async def list_baskets_snapshot(self, run_id: str, *, limit: int = 100) -> BasketExecutionList:
        return to_struct(await self.list_baskets(run_id, limit=limit), BasketExecutionList)

    async def get_basket(self, run_id: str, basket_execution_id: str) -> Any:
        path = {"run_id": run_id, "basket_execution_id": basket_execution_id}
        return await self._pipeline.call(E["get_basket"], path)

    async def get_basket_snapshot(self, run_id: str, basket_execution_id: str) -> BasketExecution:
        return to_struct(await self.get_basket(run_id, basket_execution_id), BasketExecution)

    # -- brackets (§4.7, live runs only) -----------------------------------------------------
    async def create_bracket(
        self,
        run_id: str,
        *,
        entry_order: Mapping[str, Any],
        stoploss: Mapping[str, Any],
        target: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session_nonce: str,
    ) -> Any:
        """Place the entry now and let the server arm the stoploss and target exits. The entry is
        checked like any order (``OrderRuleError``); the live gate applies
        (``LiveTradingRefusedError``). Paper and dry-run runs get 409 from the server."""
        from ._async_client import check_idempotency_key

        entry = validate_order(entry_order)
        key = check_idempotency_key(idempotency_key) if idempotency_key is not None else None
        await self._gate(run_id)
        body = {
            "entry_order": entry,
            "stoploss": dict(stoploss),
            "target": dict(target) if target is not None else None,
            "idempotency_key": key,
            "metadata": dict(metadata or {}),
        }
        return await self._pipeline.call(
            E["create_bracket"], {"run_id": run_id}, body=body, nonce=session_nonce
        )

    async def create_bracket_snapshot(
        self,
        run_id: str,
        *,
        entry_order: Mapping[str, Any],
        stoploss: Mapping[str, Any],
        target: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session_nonce: str,
    ) -> BracketActionResult:
        result = await self.create_bracket(
            run_id,
            entry_order=entry_order,
            stoploss=stoploss,
            target=target,
            idempotency_key=idempotency_key,
            metadata=metadata,
            session_nonce=session_nonce,
        )
        return to_struct(result, BracketActionResult)

    async def list_brackets(self, run_id: str, *, limit: int = 50) -> Any:
        return await self._pipeline.call(E["list_brackets"], {"run_id": run_id}, params={"limit": limit})

    async def list_brackets_snapshot(self, run_id: str, *, limit: int = 50) -> BracketList:
        return to_struct(await self.list_brackets(run_id, limit=limit), BracketList)

    async def get_bracket(self, run_id: str, bracket_intent_id: str) -> Any:
        path = {"run_id": run_id, "bracket_intent_id": bracket_intent_id}
        return await self._pipeline.call(E["get_bracket"], path)

    async def get_bracket_snapshot(self, run_id: str, bracket_intent_id: str) -> BracketIntent:
        return to_struct(await self.get_bracket(run_id, bracket_intent_id), BracketIntent)

    async def cancel_bracket(self, run_id: str, bracket_intent_id: str, *, session_nonce: str) -> Any:
        """Ask the server to cancel the bracket's working orders (answer status ``cancelling``)."""
        await self._gate(run_id)
        path = {"run_id": run_id, "bracket_intent_id": bracket_intent_id}
        return await self._pipeline.call(E["cancel_bracket"], path, body={}, nonce=session_nonce)

    async def cancel_bracket_snapshot(
        self, run_id: str, bracket_intent_id: str, *, session_nonce: str
    ) -> BracketActionResult:
        result = await self.cancel_bracket(run_id, bracket_intent_id, session_nonce=session_nonce)
        return to_struct(result, BracketActionResult)

    # -- execution events (§4.12, §5.2) ------------------------------------------------------
    async def list_execution_events(
        self,
        run_id: str,
        *,
        after_cursor: int = 0,
        limit: int = 200,
        basket_execution_id: str | None = None,
        event_type: str | None = None,
    ) -> Any:
        """The run's ``execution`` events after ``after_cursor``, ascending, in the reduced form;
        page with ``after_cursor=last_cursor`` until ``events`` is empty."""
        params = _event_params(after_cursor, limit, basket_execution_id, event_type)
        return await self._pipeline.call(E["list_execution_events"], {"run_id": run_id}, params=params)

    async def list_execution_events_snapshot(
        self,
        run_id: str,
        *,
        after_cursor: int = 0,
        limit: int = 200,
        basket_execution_id: str | None = None,
        event_type: str | None = None,
    ) -> ExecutionEventsSnapshot:
        doc = await self.list_execution_events(
            run_id,
            after_cursor=after_cursor,
            limit=limit,
            basket_execution_id=basket_execution_id,
            event_type=event_type,
        )
        return to_struct(doc, ExecutionEventsSnapshot)

    def stream_execution_events(
        self,
        run_id: str,
        *,
        after_cursor: int = 0,
        limit: int | None = None,
        basket_execution_id: str | None = None,
        event_type: str | None = None,
    ) -> AbstractAsyncContextManager[EventStream]:
        """Backfill after ``after_cursor`` (at most ``limit``), then live execution events; an
        async context manager yielding the payload iterator (errors as for ``stream_timeline``)."""
        params = _event_params(after_cursor, limit, basket_execution_id, event_type)
        return open_event_stream(
            self._pipeline,
            E["stream_execution_events"],
            {"run_id": run_id},
            params=params,
            idle_timeout=self._idle,
        )

    def follow_execution_events(
        self,
        run_id: str,
        *,
        after_cursor: int = 0,
        basket_execution_id: str | None = None,
        event_type: str | None = None,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
    ) -> AsyncIterator[Any]:
        """Reconnecting execution-event consumer resuming from the last cursor (the timeline's
        :func:`._streams.follow_timeline`); raises the last ``TransportError`` after
        ``max_attempts`` consecutive failures."""

        def opener(cursor: int) -> AbstractAsyncContextManager[EventStream]:
            return self.stream_execution_events(
                run_id, after_cursor=cursor, basket_execution_id=basket_execution_id, event_type=event_type
            )

        return follow_timeline(opener, after_cursor=after_cursor, backoff=backoff, max_attempts=max_attempts)

    # -- typed previews (§4.6, live runs only) -----------------------------------------------
    async def preview_order_snapshot(
        self, run_id: str, order: Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None
    ) -> OrderPreview:
        """``preview_order`` as an :class:`OrderPreview`; nothing is placed."""
        return to_struct(await self.preview_order(run_id, order, metadata=metadata), OrderPreview)

    async def preview_basket_snapshot(
        self,
        run_id: str,
        orders: Sequence[Mapping[str, Any]],
        *,
        metadata: Mapping[str, Any] | None = None,
        all_or_none: bool = False,
        idempotency_key: str | None = None,
    ) -> OrderPreview:
        """``preview_basket`` as an :class:`OrderPreview` (tolerant of the live basket result the
        server puts under ``preview``, contract §4.6); nothing is placed."""
        doc = await self.preview_basket(
            run_id, orders, metadata=metadata, all_or_none=all_or_none, idempotency_key=idempotency_key
        )
        return to_struct(doc, OrderPreview)
