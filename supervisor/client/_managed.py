"""The managed run lifecycle (contract §4.2 "create-or-recover", §4.3.5).

``recover_or_create`` (behind ``client.create_run`` and ``client.ensure_run``) is get-then-create:
never create first, since the server refuses a second create and never compares parameters; a
differing ``template_id``/``account_scope``/``execution_mode`` raises ``RunConfigMismatchError``.

``open_managed_run`` claims the session, sends one heartbeat, yields an :class:`AsyncManagedRun`
that forwards the nonce, and releases on exit. It never exits the run, never calls
safety-check, never sends periodic heartbeats.

``attach_managed_run`` (behind ``client.attach_run``, SDK 0.13) is the hosted child's side: the
session was claimed by someone else (the parent) and its nonce handed over, so it reads the run,
checks the config and returns an :class:`AsyncManagedRun` carrying that nonce, with no claim,
heartbeat or release (contract §4.3.5, §9 item 1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, field_validator

from ._config import DEFAULT_ACCOUNT_SCOPE, DEFAULT_EXECUTION_MODE, env_run_defaults, require_live_enabled
from ._errors import ClientValidationError, ConflictError, NotFoundError, RunConfigMismatchError
from ._protection import BackendProtection
from ._run_calls import RunCalls

if TYPE_CHECKING:
    from ._async_client import AsyncKiteAlgoWorkerClient

__all__ = ["AsyncManagedRun", "RunConfig", "attach_managed_run", "open_managed_run", "recover_or_create"]

_COMPARED = ("template_id", "account_scope", "execution_mode")


class RunConfig(BaseModel):
    """The run the worker wants (seed ``RunConfig`` / ``create_run`` fields). Strict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template_id: str
    account_scope: str = DEFAULT_ACCOUNT_SCOPE
    execution_mode: str = DEFAULT_EXECUTION_MODE
    strategy_run_id: str | None = None
    summary_fields: list[dict[str, Any]] | None = None
    risk_schema: list[dict[str, Any]] | None = None
    allowed_actions: list[str] | None = None
    runtime_state: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    # a BackendProtection (as in the seed) or its dict form; stored as the dict form
    backend_protection: dict[str, Any] | BackendProtection | None = None

    @field_validator("backend_protection", mode="before")
    @classmethod
    def _protection_dict(cls, value: Any) -> Any:
        # The seed passes a BackendProtection object; the wire wants its dict form.
        return value.to_dict() if hasattr(value, "to_dict") else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **fields: Any) -> RunConfig:
        """A config whose ``account_scope``/``execution_mode`` default to
        ``KITE_ALGO_ACCOUNT_SCOPE``/``KITE_ALGO_EXECUTION_MODE`` (explicit fields win). Raises
        ``LiveTradingRefusedError`` when live is asked for without ``KITE_ALGO_ENABLE_LIVE=1``."""
        scope, mode = env_run_defaults(environ)
        config = cls(**{"account_scope": scope, "execution_mode": mode, **fields})
        require_live_enabled(config.execution_mode, environ)  # from the environment or explicit
        return config

    def create_fields(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


async def recover_or_create(
    get_run: Callable[[str], Awaitable[Any]],
    post_run: Callable[[dict[str, Any]], Awaitable[Any]],
    fields: Mapping[str, Any],
) -> tuple[Any, bool]:
    """Create-or-recover as get-then-create (contract §4.2, §9.3): ``(run_doc, created)``.

    With a ``strategy_run_id`` the run is read first and, if it exists, returned unchanged
    (nothing of ``fields`` is applied to it); a differing template, account scope or mode raises
    ``RunConfigMismatchError``. Only a 404 leads to the create; losing a create race (409) to
    another process falls back to reading its run. Blocks on one to three requests.
    """
    run_id = fields.get("strategy_run_id")
    if not run_id:
        return await post_run(dict(fields)), True
    try:
        return _checked(await get_run(run_id), fields), False
    except NotFoundError:
        pass
    try:
        return await post_run(dict(fields)), True
    except ConflictError:
        return _checked(await get_run(run_id), fields), False


def _checked(run: Any, fields: Mapping[str, Any]) -> Any:
    diffs = [
        f"{name}: run has {run.get(name)!r}, config wants {fields.get(name)!r}"
        for name in _COMPARED
        if str(run.get(name)) != str(fields.get(name))
    ]
    if diffs:
        raise RunConfigMismatchError(
            f"existing run {fields.get('strategy_run_id')} differs: " + "; ".join(diffs),
            status_code=409,
            response_body=run,
        )
    return run


def _as_answered(answer: Any) -> Any:
    return answer  # the SDK's dict


class AsyncManagedRun(RunCalls[Any]):
    """A run bound to a claimed session: its calls forward ``run_id`` and the nonce. The calls
    it shares with ``ctx.run`` are :class:`~._run_calls.RunCalls`'; this adds the SDK's
    ``heartbeat``, ``progress``, ``notify`` and the seed's form of ``log_decision_event``; its
    bracket calls answer the SDK's dicts. ``client`` is the client that opened it."""

    def __init__(self, client: AsyncKiteAlgoWorkerClient, run: Any, session_nonce: str | None) -> None:
        super().__init__(client, str(run["strategy_run_id"]), session_nonce, run, bracket_result=_as_answered)

    def __repr__(self) -> str:
        return f"AsyncManagedRun(run_id={self.run_id!r}, session={'held' if self.session_nonce else 'none'})"

    @property
    def client(self) -> AsyncKiteAlgoWorkerClient:
        return self._client

    async def heartbeat(
        self,
        *,
        status: str = "healthy",
        metrics: Mapping[str, Any] | None = None,
        worker_id: str | None = None,
    ) -> Any:
        """A run heartbeat with the nonce; ``ClientValidationError`` without a claimed session."""
        if not self.session_nonce:
            raise ClientValidationError("heartbeat needs a claimed session", rule="session")
        return await self._client.run_heartbeat(
            self.run_id, session_nonce=self.session_nonce, status=status, metrics=metrics, worker_id=worker_id
        )

    async def log_decision_event(
        self,
        *,
        decision_type: str | None = None,
        action: str | None = None,
        summary: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        event_type: str | None = None,
        details: Mapping[str, Any] | None = None,
        related_resource_type: str | None = None,
        related_resource_id: str | None = None,
        basket_execution_id: str | None = None,
    ) -> Any:
        """Record a decision, in the server form (``decision_type``, ``action``, ``summary``,
        ``metadata``) or the seed's (``event_type``, ``summary``, ``details``); ``None`` fields
        are not sent. Blocks on one request."""
        fields = {
            "decision_type": decision_type,
            "action": action,
            "summary": summary,
            "metadata": metadata,
            "event_type": event_type,
            "details": details,
            "related_resource_type": related_resource_type,
            "related_resource_id": related_resource_id,
            "basket_execution_id": basket_execution_id,
        }
        payload = {k: v for k, v in fields.items() if v is not None}
        return await self._client.log_decision_event(self.run_id, session_nonce=self.session_nonce, **payload)

    async def progress(self, note: str | None = None) -> Any:
        """Report a hosted child's progress (``client.run_progress``); raises
        ``ClientValidationError`` without a nonce, before any request."""
        return await self._client.run_progress(self.run_id, session_nonce=self._nonce("progress"), note=note)

    async def notify(
        self, *, channels: Sequence[str], text: str, idempotency_key: str, subject: str | None = None
    ) -> Any:
        """``client.notify_run`` for this run, with the nonce (``ClientValidationError`` without)."""
        return await self._client.notify_run(
            self.run_id,
            channels=channels,
            text=text,
            idempotency_key=idempotency_key,
            subject=subject,
            session_nonce=self._nonce("notify"),
        )


@asynccontextmanager
async def open_managed_run(
    client: AsyncKiteAlgoWorkerClient,
    config: RunConfig,
    *,
    claim_session: bool = True,
    heartbeat_on_enter: bool = True,
    release_on_exit: bool = True,
) -> AsyncIterator[AsyncManagedRun]:
    """See the module docstring. A release failure is raised only if the body did not raise."""
    if heartbeat_on_enter and not claim_session:
        raise ClientValidationError("heartbeat_on_enter needs claim_session", rule="session")
    run, _created = await client.ensure_run(config)
    nonce: str | None = None
    run_id = str(run["strategy_run_id"])
    if claim_session:
        claim = await client.claim_session(run_id)
        nonce = str(claim["worker_session_nonce"])
    managed = AsyncManagedRun(client, run, nonce)
    if heartbeat_on_enter and nonce:
        await client.run_heartbeat(run_id, session_nonce=nonce)
    body_failed = False
    try:
        yield managed
    except BaseException:
        body_failed = True
        raise
    finally:
        if release_on_exit and nonce:
            try:
                await client.release_session(run_id, session_nonce=nonce)
            except Exception:
                if not body_failed:
                    raise


async def attach_managed_run(
    client: AsyncKiteAlgoWorkerClient, run_id: str, *, session_nonce: str, config: RunConfig
) -> AsyncManagedRun:
    """See the module docstring. Blocks on one ``get_run``; raises ``ClientValidationError``
    for an empty nonce, ``LiveTradingRefusedError`` for live without the gate (both before any
    request), ``RunConfigMismatchError`` when the run's template, scope or mode differ."""
    nonce = str(session_nonce or "").strip()
    if not nonce:
        raise ClientValidationError("attach_run needs the session nonce", rule="session")
    require_live_enabled(config.execution_mode, client._environ)
    run = _checked(await client.get_run(run_id), {**config.create_fields(), "strategy_run_id": run_id})
    return AsyncManagedRun(client, run, nonce)
