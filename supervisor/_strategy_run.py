"""``ctx.run``: the strategy's backend run, bound to the session the daemon holds for it.

Every method is an explicit forward to one :class:`~supervisor.client.AsyncKiteAlgoWorkerClient`
call with the same keyword arguments, minus ``run_id`` and ``session_nonce``, which the run
supplies (style rule 9: no ``**kwargs``, no dispatch by method name, so mypy and an IDE follow a
call from a plugin to the wire). Results are the client's: typed records where the client has
them (``SafetyCheckResult``, ``OrderPreview``, ``RunHealthSnapshot``, ...), else the JSON answer
as a :class:`~supervisor.client.Doc` (a dict also readable as attributes).

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
from typing import Any, Literal, cast

from .client import (
    AsyncKiteAlgoWorkerClient,
    BackendProtection,
    BracketActionResult,
    ClientValidationError,
    Doc,
    ExecutionEventsSnapshot,
    KiteAlgoWorkerError,
    OrderPreview,
    RunHealthSnapshot,
    SafetyCheckResult,
    TimelineSnapshot,
)

__all__ = ["DecisionAction", "DecisionType", "StrategyRun"]

# contract §4.12, POST /worker/runs/{id}/decision-events
DecisionType = Literal["signal", "entry", "exit", "risk_update", "management", "protection_ack", "note"]
DecisionAction = Literal[
    "enter",
    "exit",
    "hold",
    "skip",
    "modify",
    "cancel",
    "update_protection",
    "arm_bracket",
    "rebalance",
    "observe",
]


def _doc(value: Any) -> Doc:
    """The client's JSON answer (the pipeline wraps every object in a ``Doc``)."""
    return Doc(value) if isinstance(value, dict) and not isinstance(value, Doc) else cast("Doc", value)


class StrategyRun:
    """``ctx.run``: the backend run bound to our session; every guarded call carries the nonce.

    ``run_id``, ``session_nonce`` (a session credential: never log it) and ``run`` (the run
    document as last read: at start, or by :meth:`refresh`). Created by the daemon, never by
    plugins. See the module docstring for what the methods block on and raise.
    """

    def __init__(
        self,
        client: AsyncKiteAlgoWorkerClient,
        run_id: str,
        session_nonce: str,
        run: Any,
        intents: Counter[str],
    ) -> None:
        self._client = client
        self.run_id = run_id
        self.session_nonce = session_nonce
        self.run: Doc = run
        self._intents = intents  # intent outcomes by status, for the metrics

    def __repr__(self) -> str:  # the nonce is a session credential: keep it out of logs
        return f"StrategyRun(run_id={self.run_id!r})"

    def _count(self, result: Doc) -> Doc:
        return result  # what the backend answered is counted by the client (observe_intents)

    def _count_error(self, exc: KiteAlgoWorkerError) -> None:
        if isinstance(exc, ClientValidationError):  # refused before any request: never sent
            self._intents[f"error:{type(exc).__name__}"] += 1

    # -- safety and intents (§4.4, §4.5) -----------------------------------------------------
    async def safety_check(self) -> SafetyCheckResult:
        """The backend's safety check of this run (``can_trade``, ``safety_token``,
        ``blocking_reasons``). The daemon never calls it for you."""
        return await self._client.safety_check(self.run_id)

    async def place_order(
        self,
        order: Mapping[str, Any],
        *,
        idempotency_key: str,
        metadata: Mapping[str, Any] | None = None,
        safety_token: str | None = None,
    ) -> Doc:
        """Validate ``order`` (``OrderRuleError``) and submit it as a ``place_order`` intent.

        ``idempotency_key`` (8..160 characters) must be deterministic (``ctx.key(...)``): the
        backend answers a repeated key with the first intent (``status: "deduped"``)."""
        try:
            result = await self._client.place_order(
                self.run_id,
                order,
                idempotency_key=idempotency_key,
                metadata=metadata,
                safety_token=safety_token,
                session_nonce=self.session_nonce,
            )
        except KiteAlgoWorkerError as exc:
            self._count_error(exc)
            raise
        return self._count(result)

    async def place_basket(
        self,
        orders: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str,
        metadata: Mapping[str, Any] | None = None,
        all_or_none: bool = False,
        dry_run: bool = False,
        safety_token: str | None = None,
    ) -> Doc:
        """Submit ``orders`` as one ``place_basket`` intent (each leg validated; each takes one
        slot of the order-rate budget)."""
        try:
            result = await self._client.place_basket(
                self.run_id,
                orders,
                idempotency_key=idempotency_key,
                metadata=metadata,
                all_or_none=all_or_none,
                dry_run=dry_run,
                safety_token=safety_token,
                session_nonce=self.session_nonce,
            )
        except KiteAlgoWorkerError as exc:
            self._count_error(exc)
            raise
        return self._count(result)

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

    # -- broker orders (§4.8) ----------------------------------------------------------------
    async def cancel_order(
        self, order_id: str, *, variety: str = "regular", parent_order_id: str | None = None
    ) -> Doc:
        """Cancel one of the run's working orders."""
        return _doc(
            await self._client.cancel_order(
                self.run_id,
                order_id,
                variety=variety,
                parent_order_id=parent_order_id,
                session_nonce=self.session_nonce,
            )
        )

    async def modify_order(
        self, order_id: str, changes: Mapping[str, Any], *, variety: str = "regular"
    ) -> Doc:
        """Modify one of the run's working orders (``changes``: price, quantity, ...)."""
        return _doc(
            await self._client.modify_order(
                self.run_id, order_id, changes, variety=variety, session_nonce=self.session_nonce
            )
        )

    # -- exit, P&L, funds (§4.9, §4.10) ------------------------------------------------------
    async def exit_run(
        self, *, reason: str | None = None, idempotency_key: str | None = None, dry_run: bool = False
    ) -> Doc:
        """The strategy's own decision to exit the run (flatten and close); ``dry_run=True``
        previews it. The daemon itself never calls this."""
        return _doc(
            await self._client.exit_run(
                self.run_id,
                reason=reason,
                idempotency_key=idempotency_key,
                dry_run=dry_run,
                session_nonce=self.session_nonce,
            )
        )

    async def get_run_pnl(self) -> Doc:
        """The run's P&L snapshot (positions, realized/unrealized, charges)."""
        return _doc(await self._client.get_run_pnl(self.run_id))

    async def get_run_funds(self) -> Doc:
        """The run's funds (its account's segments, plus the seed's ``net``)."""
        return _doc(await self._client.get_run_funds(self.run_id))

    # -- risk and protection (§4.11) ---------------------------------------------------------
    async def patch_risk(self, risk: Mapping[str, Any], *, reason: str | None = None) -> Doc:
        """Patch the run's risk values (the template's ``risk_schema`` fields)."""
        return _doc(
            await self._client.patch_risk(self.run_id, risk, reason=reason, session_nonce=self.session_nonce)
        )

    async def update_backend_protection(
        self,
        protection: BackendProtection | Mapping[str, Any],
        *,
        reason: str | None = None,
        reset_trailing: bool = True,
    ) -> Doc:
        """Replace the run's backend protection (stop loss, target, trailing: the backend acts
        on it, not the daemon)."""
        return _doc(
            await self._client.update_backend_protection(
                self.run_id,
                protection,
                reason=reason,
                reset_trailing=reset_trailing,
                session_nonce=self.session_nonce,
            )
        )

    # -- brackets (§4.7, live runs only: paper and dry-run runs get 409) ----------------------
    async def create_bracket(
        self,
        *,
        entry_order: Mapping[str, Any],
        stoploss: Mapping[str, Any],
        target: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> BracketActionResult:
        """Place the entry and let the server arm the stoploss and target exits."""
        return await self._client.create_bracket_snapshot(
            self.run_id,
            entry_order=entry_order,
            stoploss=stoploss,
            target=target,
            idempotency_key=idempotency_key,
            metadata=metadata,
            session_nonce=self.session_nonce,
        )

    async def cancel_bracket(self, bracket_intent_id: str) -> BracketActionResult:
        """Ask the server to cancel a bracket's working orders."""
        return await self._client.cancel_bracket_snapshot(
            self.run_id, bracket_intent_id, session_nonce=self.session_nonce
        )

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
        return _doc(
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

    async def refresh(self) -> Doc:
        """Read the run document again (``GET /worker/runs/{id}``) and keep it in ``run``."""
        self.run = await self._client.get_run(self.run_id)
        return self.run
