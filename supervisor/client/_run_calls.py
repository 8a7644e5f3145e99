"""The calls about one run, bound to it: the one definition behind both run objects.

:class:`RunCalls` forwards each call to one :class:`~supervisor.client.AsyncKiteAlgoWorkerClient`
call with the same keyword arguments, minus ``run_id`` and ``session_nonce``, which it supplies
(style rule 9: explicit keyword signatures, no dispatch by method name). Two classes build on it:

* ``supervisor.client.AsyncManagedRun`` (``client.run()``, ``client.attach_run``): the SDK's
  managed run, which adds ``heartbeat``, ``progress``, ``notify`` and the seed's forms;
* ``supervisor.StrategyRun`` (``ctx.run``): the daemon's run for a strategy, which adds the
  typed reads (previews, timeline, health) and counts orders refused before any request.

Every call blocks on one request (the order calls may first wait for the account's order-rate
budget) and raises the client's error tree. Results are the client's: typed records where it
has them, else the JSON answer as a :class:`~supervisor.client.Doc`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

from ._errors import ClientValidationError
from ._models import Doc
from ._protection import BackendProtection

if TYPE_CHECKING:
    from ._async_client import AsyncKiteAlgoWorkerClient
    from ._models import SafetyCheckResult

__all__ = ["DecisionAction", "DecisionType", "RunCalls", "as_doc"]

BracketT = TypeVar("BracketT")

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


def as_doc(value: Any) -> Doc:
    """The client's JSON answer as a ``Doc`` (the pipeline already wraps every object)."""
    return Doc(value) if isinstance(value, dict) and not isinstance(value, Doc) else cast("Doc", value)


class RunCalls(Generic[BracketT]):
    """The calls of one run with its session nonce (``None``: no session claimed; the guarded
    calls then go without one, and those that need one raise ``ClientValidationError``).
    ``bracket_result`` turns the bracket calls' JSON answer into the subclass's result type
    (the SDK's dict for the managed run, ``BracketActionResult`` for ``ctx.run``)."""

    def __init__(
        self,
        client: AsyncKiteAlgoWorkerClient,
        run_id: str,
        session_nonce: str | None,
        run: Any,
        *,
        bracket_result: Callable[[Any], BracketT],
    ) -> None:
        self._client = client
        self._bracket_result = bracket_result
        self.run_id = run_id
        self.session_nonce = session_nonce
        self.run: Any = run

    def _nonce(self, call: str) -> str:
        if not self.session_nonce:
            raise ClientValidationError(f"{call} needs a session nonce", rule="session")
        return self.session_nonce

    def _refused(self, exc: ClientValidationError) -> None:
        """Hook: an order refused before any request (never sent, so the client never saw it)."""

    # -- safety and intents (§4.4, §4.5) -----------------------------------------------------
    async def safety_check(self) -> SafetyCheckResult:
        """The backend's safety check of this run (``can_trade``, ``safety_token``,
        ``blocking_reasons``)."""
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

        ``idempotency_key`` (8..160 characters) must be deterministic: the backend answers a
        repeated key with the first intent (``status: "deduped"``)."""
        try:
            return as_doc(
                await self._client.place_order(
                    self.run_id,
                    order,
                    idempotency_key=idempotency_key,
                    metadata=metadata,
                    safety_token=safety_token,
                    session_nonce=self.session_nonce,
                )
            )
        except ClientValidationError as exc:
            self._refused(exc)
            raise

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
            return as_doc(
                await self._client.place_basket(
                    self.run_id,
                    orders,
                    idempotency_key=idempotency_key,
                    metadata=metadata,
                    all_or_none=all_or_none,
                    dry_run=dry_run,
                    safety_token=safety_token,
                    session_nonce=self.session_nonce,
                )
            )
        except ClientValidationError as exc:
            self._refused(exc)
            raise

    # -- broker orders (§4.8) ----------------------------------------------------------------
    async def cancel_order(
        self, order_id: str, *, variety: str = "regular", parent_order_id: str | None = None
    ) -> Doc:
        """Cancel one of the run's working orders."""
        return as_doc(
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
        return as_doc(
            await self._client.modify_order(
                self.run_id, order_id, changes, variety=variety, session_nonce=self.session_nonce
            )
        )

    # -- exit and P&L (§4.9, §4.10) ----------------------------------------------------------
    async def exit_run(
        self, *, reason: str | None = None, idempotency_key: str | None = None, dry_run: bool = False
    ) -> Doc:
        """The worker's own decision to exit the run (flatten and close); ``dry_run=True``
        previews it. The daemon itself never calls this."""
        return as_doc(
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
        return as_doc(await self._client.get_run_pnl(self.run_id))

    # -- risk and protection (§4.11) ---------------------------------------------------------
    async def patch_risk(self, risk: Mapping[str, Any], *, reason: str | None = None) -> Doc:
        """Patch the run's risk values (the template's ``risk_schema`` fields)."""
        return as_doc(
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
        return as_doc(
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
    ) -> BracketT:
        """Place the entry and let the server arm the stoploss and target exits
        (``ClientValidationError`` without a session nonce, before any request)."""
        answer = await self._client.create_bracket(
            self.run_id,
            entry_order=entry_order,
            stoploss=stoploss,
            target=target,
            idempotency_key=idempotency_key,
            metadata=metadata,
            session_nonce=self._nonce("create_bracket"),
        )
        return self._bracket_result(answer)

    async def cancel_bracket(self, bracket_intent_id: str) -> BracketT:
        """Ask the server to cancel a bracket's working orders."""
        answer = await self._client.cancel_bracket(
            self.run_id, bracket_intent_id, session_nonce=self._nonce("cancel_bracket")
        )
        return self._bracket_result(answer)

    # -- the run document --------------------------------------------------------------------
    async def refresh(self) -> Doc:
        """Read the run document again (``GET /worker/runs/{id}``) and keep it in ``run``."""
        self.run = as_doc(await self._client.get_run(self.run_id))
        return cast("Doc", self.run)
