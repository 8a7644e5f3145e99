"""The hosted child environment (contract §2.5, §4.3.5; SDK 0.13's hosted entry point).

A hosted child is started by a parent that created the run and claimed its session; the child
gets everything it needs in its environment and attaches with ``client.attach_run`` (never a
second claim):

======================================  =====================================================
``KITE_ALGO_BASE_URL``                  backend base URL (required)
``KITE_ALGO_WORKER_TOKEN``              the child's worker token (required; never shown)
``KITE_ALGO_RUN_ID``                    the run the parent created (required)
``KITE_ALGO_SESSION_NONCE``             the parent's session nonce (required; never shown)
``KITE_ALGO_TEMPLATE_ID``               the run's template (required)
``KITE_ALGO_ACCOUNT_SCOPE``             the run's account scope (required)
``KITE_ALGO_MODE``                      execution mode, default ``paper``
``KITE_ALGO_PARAMS``                    strategy parameters as a JSON object, default ``{}``
``KITE_ALGO_SCRATCH``                   a writable directory, default the working directory
======================================  =====================================================

The environment is read through an explicit mapping that defaults to ``os.environ`` (as
:meth:`RunConfig.from_env` does), so tests hand in a dict. :func:`open_hosted_child` opens the
async client, attaches and yields a :class:`HostedChild`; :func:`hosted_context` does the same
with the blocking client and yields a :class:`BlockingHostedChild`, the ``ctx`` an upstream
(synchronous) ``main(ctx)`` expects: ``params``, ``client``, ``run``, ``scratch``,
``template_id``, ``execution_mode``, ``run_id`` and ``progress()``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from ._config import AlgoWorkerConfig
from ._errors import ClientValidationError
from ._managed import AsyncManagedRun, RunConfig

__all__ = [
    "HOSTED_ENV",
    "BlockingHostedChild",
    "HostedChild",
    "HostedChildEnv",
    "hosted_context",
    "open_hosted_child",
]

HOSTED_ENV = {
    "base_url": "KITE_ALGO_BASE_URL",
    "token": "KITE_ALGO_WORKER_TOKEN",
    "run_id": "KITE_ALGO_RUN_ID",
    "session_nonce": "KITE_ALGO_SESSION_NONCE",
    "template_id": "KITE_ALGO_TEMPLATE_ID",
    "account_scope": "KITE_ALGO_ACCOUNT_SCOPE",
    "execution_mode": "KITE_ALGO_MODE",
    "params": "KITE_ALGO_PARAMS",
    "scratch": "KITE_ALGO_SCRATCH",
}
_REQUIRED = ("base_url", "token", "run_id", "session_nonce", "template_id", "account_scope")


class HostedChildEnv(BaseModel):
    """What a hosted child was handed. Immutable; token and nonce never appear in its repr."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    token: SecretStr
    run_id: str
    session_nonce: SecretStr
    template_id: str
    account_scope: str
    execution_mode: str = "paper"
    params: dict[str, Any] = {}
    scratch: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HostedChildEnv:
        """Read the variables of the module docstring from ``environ`` (default ``os.environ``).
        Never blocks. Raises ``ClientValidationError`` naming a missing required variable or a
        ``KITE_ALGO_PARAMS`` that is not a JSON object."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in _REQUIRED:
            value = (env.get(HOSTED_ENV[name]) or "").strip()
            if not value:
                raise ClientValidationError(f"{HOSTED_ENV[name]} is required", rule="hosted_env")
            values[name] = value
        values["execution_mode"] = (env.get(HOSTED_ENV["execution_mode"]) or "paper").strip().lower()
        raw_params = env.get(HOSTED_ENV["params"]) or "{}"
        try:
            params = json.loads(raw_params)
        except ValueError as exc:
            raise ClientValidationError(f"{HOSTED_ENV['params']} is not JSON", rule="hosted_env") from exc
        if not isinstance(params, dict):
            raise ClientValidationError(f"{HOSTED_ENV['params']} must be a JSON object", rule="hosted_env")
        values["params"] = params
        values["scratch"] = Path(env.get(HOSTED_ENV["scratch"]) or os.getcwd())
        return cls(**values)

    def client_config(self) -> AlgoWorkerConfig:
        return AlgoWorkerConfig(base_url=self.base_url, token=self.token)

    def run_config(self) -> RunConfig:
        """The config ``attach_run`` checks the run against (template, scope, mode)."""
        return RunConfig(
            strategy_run_id=self.run_id,
            template_id=self.template_id,
            account_scope=self.account_scope,
            execution_mode=self.execution_mode,
        )


@dataclass
class HostedChild:
    """What a hosted strategy's ``main(ctx)`` receives: the attached run and its client."""

    env: HostedChildEnv
    client: Any  # the AsyncKiteAlgoWorkerClient that attached
    run: AsyncManagedRun
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def template_id(self) -> str:
        return self.env.template_id

    @property
    def execution_mode(self) -> str:
        return self.env.execution_mode

    @property
    def scratch(self) -> Path:
        return self.env.scratch

    async def progress(self, note: str | None = None) -> Any:
        """Report the child's progress to its hosted attempt (blocks on one request)."""
        return await self.run.progress(note)


@asynccontextmanager
async def open_hosted_child(
    environ: Mapping[str, str] | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[HostedChild]:
    """Read the hosted environment, open a client and attach to the parent's run (one
    ``get_run``; no claim, heartbeat or release). Raises as :meth:`HostedChildEnv.from_env` and
    ``attach_run``; the client is closed when the block ends."""
    from ._async_client import AsyncKiteAlgoWorkerClient

    env = HostedChildEnv.from_env(environ)
    async with AsyncKiteAlgoWorkerClient(env.client_config(), transport=transport, environ=environ) as client:
        run = await client.attach_run(
            env.run_id, session_nonce=env.session_nonce.get_secret_value(), config=env.run_config()
        )
        yield HostedChild(env=env, client=client, run=run, params=dict(env.params))


@dataclass
class BlockingHostedChild:
    """:class:`HostedChild` for synchronous strategies: ``client`` is the blocking client and
    ``run`` its blocking managed run; every call blocks on its request(s)."""

    env: HostedChildEnv
    client: Any  # KiteAlgoWorkerClient
    run: Any  # its blocking ManagedRun
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return str(self.run.run_id)

    @property
    def template_id(self) -> str:
        return self.env.template_id

    @property
    def execution_mode(self) -> str:
        return self.env.execution_mode

    @property
    def scratch(self) -> Path:
        return self.env.scratch

    def progress(self, note: str | None = None) -> Any:
        """Report the child's progress (blocks on one request)."""
        return self.run.progress(note)


@contextmanager
def hosted_context(
    environ: Mapping[str, str] | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Iterator[BlockingHostedChild]:
    """:func:`open_hosted_child` for synchronous code: starts the blocking client (its one
    background thread), attaches, and closes the client when the block ends. Blocks; raises
    as :func:`open_hosted_child`."""
    from ._sync import KiteAlgoWorkerClient

    env = HostedChildEnv.from_env(environ)
    with KiteAlgoWorkerClient(env.client_config(), transport=transport, environ=environ) as client:
        run = client.attach_run(
            env.run_id, session_nonce=env.session_nonce.get_secret_value(), config=env.run_config()
        )
        yield BlockingHostedChild(env=env, client=client, run=run, params=dict(env.params))
