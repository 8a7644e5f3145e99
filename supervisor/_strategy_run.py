"""``ctx.run``: the strategy's backend run, bound to the session the daemon holds for it.

The calls it shares with the SDK's managed run (orders, exit, P&L, risk, protection, refresh)
are defined once, in :class:`~supervisor.client._run_calls.RunCalls`: each an explicit forward
to one :class:`~supervisor.client.AsyncKiteAlgoWorkerClient` call with the same keyword
arguments, minus ``run_id`` and ``session_nonce`` (style rule 9: no ``**kwargs``, no dispatch by
method name, so mypy and an IDE follow a call from a plugin to the wire). This class adds the
typed reads a strategy wants (previews, funds, timeline, execution events, health), typed
bracket results and decisions, and counts the orders refused before any request for the metrics. Results are
the client's: typed records where the client has them (``SafetyCheckResult``,
``OrderPreview``, ``RunHealthSnapshot``, ...), else the JSON answer as a
:class:`~supervisor.client.Doc` (a dict also readable as attributes).

Every method blocks on HTTP (one request; the order calls may first wait for the account's
order-rate budget) and raises the client's error tree: ``ClientValidationError`` subclasses
(``OrderRuleError``...) before any request, ``OrderRateLimitedError`` when the budget has no slot
in time, ``SessionConflictError`` when the backend gave the session to another worker,
``SafetyTokenExpiredError``, other ``APIError`` subclasses for a refusal, ``TransportError`` when
nothing answered. There is deliberately no ``heartbeat``: the daemon's heartbeat task owns it;
report liveness with ``ctx.progress``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from .client import (
    AsyncKiteAlgoWorkerClient,
    BracketActionResult,
    ClientValidationError,
    Doc,
    ExecutionEventsSnapshot,
    OrderPreview,
    RunHealthSnapshot,
    TimelineSnapshot,
)
from .client._models import to_struct
from .client._run_calls import DecisionAction, DecisionType, RunCalls, as_doc

__all__ = ["DecisionAction", "DecisionType", "StrategyRun"]


def _bracket_result(answer: Any) -> BracketActionResult:
    return to_struct(answer, BracketActionResult)


class StrategyRun(RunCalls[BracketActionResult]):
    """``ctx.run``: the backend run bound to our session; every guarded call carries the nonce.

    ``run_id``, ``session_nonce`` (a session credential: never log it) and ``run`` (the run
    document as last read: at start, or by :meth:`refresh`). Created by the daemon, never by
    plugins. See the module docstring for what the methods block on and raise.
    """

    session_nonce: str
    run: Doc

    def __init__(
        self,
        client: AsyncKiteAlgoWorkerClient,
        run_id: str,
        session_nonce: str,
        run: Any,
        intents: Counter[str],
    ) -> None:
        super().__init__(client, run_id, session_nonce, run, bracket_result=_bracket_result)
        self._intents = intents  # intent outcomes by status, for the metrics

    def __repr__(self) -> str:  # the nonce is a session credential: keep it out of logs
        return f"StrategyRun(run_id={self.run_id!r})"

    def _refused(self, exc: ClientValidationError) -> None:
        # what the backend answered is counted by the client (observe_intents); this was not sent
        self._intents[f"error:{type(exc).__name__}"] += 1

    async def preview_order(
        self, order: Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None
    ) -> OrderPreview:
        """What the broker would say about ``order`` (margins, charges); nothing is placed."""
        return await self._client.preview_order_snapshot(self.run_id, order, metadata=metadata)

    async def preview_basket(
        self,
        orders: Sequence[Mapping[str, Any]],
        *,
        metadata: Mapping[str, Any] | None = None,
        all_or_none: bool = False,
        idempotency_key: str | None = None,
    ) -> OrderPreview:
        """``preview_order`` for a basket; nothing is placed."""
        return await self._client.preview_basket_snapshot(
            self.run_id, orders, metadata=metadata, all_or_none=all_or_none, idempotency_key=idempotency_key
        )

    # -- funds (§4.10) -----------------------------------------------------------------------
    async def get_run_funds(self) -> Doc:
        """The run's funds (its account's segments, plus the seed's ``net``)."""
        return as_doc(await self._client.get_run_funds(self.run_id))

    # -- timeline and decisions (§4.12) ------------------------------------------------------
    async def log_decision_event(
        self,
        *,
        decision_type: DecisionType,
        action: DecisionAction,
        summary: str,
        metadata: Mapping[str, Any] | None = None,
        related_resource_type: str | None = None,
        related_resource_id: str | None = None,
        basket_execution_id: str | None = None,
    ) -> Doc:
        """Record a decision on the run's timeline (``summary``: 1..500 characters)."""
        optional = {
            "related_resource_type": related_resource_type,
            "related_resource_id": related_resource_id,
            "basket_execution_id": basket_execution_id,
        }
        return as_doc(
            await self._client.log_decision_event(
                self.run_id,
                session_nonce=self.session_nonce,
                decision_type=decision_type,
                action=action,
                summary=summary,
                metadata=dict(metadata or {}),
                **{k: v for k, v in optional.items() if v is not None},
            )
        )

    async def list_timeline(self, *, after_cursor: int = 0, limit: int = 200) -> TimelineSnapshot:
        """The run's timeline events after ``after_cursor`` (oldest first)."""
        return await self._client.list_timeline_snapshot(self.run_id, after_cursor=after_cursor, limit=limit)

    async def list_execution_events(
        self, *, after_cursor: int = 0, limit: int = 200, event_type: str | None = None
    ) -> ExecutionEventsSnapshot:
        """The run's execution events after ``after_cursor``."""
        return await self._client.list_execution_events_snapshot(
            self.run_id, after_cursor=after_cursor, limit=limit, event_type=event_type
        )

    # -- the run document --------------------------------------------------------------------
    async def health(self) -> RunHealthSnapshot:
        """The run's health as the backend sees it (heartbeat age, session and recovery status)."""
        return await self._client.get_run_health_snapshot(self.run_id)
