"""Connection settings and the live-trading gate.

:class:`AlgoWorkerConfig` never shows the token in its repr; :func:`require_live_enabled`
refuses live execution unless ``KITE_ALGO_ENABLE_LIVE=1`` (seed "Live-mode gate"; contract §11
item 15: the gate is ours, the server does not enforce it). Nothing here performs I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ._errors import ClientValidationError, LiveTradingRefusedError

__all__ = [
    "DEFAULT_API_PREFIX",
    "DEFAULT_BASE_URL",
    "AlgoWorkerConfig",
    "ExecutionMode",
    "env_run_defaults",
    "live_enabled",
    "require_live_enabled",
]

ExecutionMode = Literal["dry_run", "paper", "live"]
EXECUTION_MODES = ("dry_run", "paper", "live")
DEFAULT_BASE_URL = "http://localhost:18777"
DEFAULT_API_PREFIX = "/api/algo-workers"
DEFAULT_ACCOUNT_SCOPE = "kite:paper-a"
DEFAULT_EXECUTION_MODE = "dry_run"
DEFAULT_MAX_CONNECTIONS = 256  # streams of a hub with many candle/P&L/timeline topics, and requests
DEFAULT_MAX_KEEPALIVE = 64


class AlgoWorkerConfig(BaseModel):
    """Where the worker API lives and how to authenticate. Immutable; never blocks.

    ``max_connections`` bounds the client's connection pool: every open SSE stream holds one
    connection until it is closed, and requests share the others, so it must exceed the streams
    a client keeps open (a stream hub holds one per tick union and one per candle, P&L or
    timeline topic); a request finding the pool full waits up to ``timeout`` and then raises
    ``TransportError``. Up to ``max_keepalive_connections`` (capped at ``max_connections``) stay
    open between requests. Both apply to the client's own transport, not to one passed in
    (``transport=``).

    Raises ``ClientValidationError`` for an empty base URL or token, pydantic's
    ``ValidationError`` for a timeout or limit out of range.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    token: SecretStr
    timeout: float = Field(default=10.0, gt=0)
    api_prefix: str = DEFAULT_API_PREFIX
    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1)
    max_keepalive_connections: int = Field(default=DEFAULT_MAX_KEEPALIVE, ge=1)

    def __init__(
        self,
        base_url: str,
        token: str | SecretStr,
        timeout: float = 10.0,
        api_prefix: str = DEFAULT_API_PREFIX,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_keepalive_connections: int = DEFAULT_MAX_KEEPALIVE,
    ) -> None:
        if not base_url or not str(base_url).strip():
            raise ClientValidationError("base_url is required", rule="config.base_url")
        raw = token.get_secret_value() if isinstance(token, SecretStr) else token
        if not raw or not str(raw).strip():
            raise ClientValidationError("token is required", rule="config.token")
        super().__init__(
            base_url=base_url,
            token=SecretStr(raw),
            timeout=timeout,
            api_prefix=api_prefix,
            max_connections=max_connections,
            max_keepalive_connections=min(max_keepalive_connections, max_connections),
        )

    @field_validator("base_url")
    @classmethod
    def _strip_url(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @property
    def api_base(self) -> str:
        """``base_url`` joined with the API prefix (contract §1.1), no trailing slash."""
        prefix = self.api_prefix.strip("/")
        return f"{self.base_url}/{prefix}" if prefix else self.base_url

    def __repr__(self) -> str:
        return (
            f"AlgoWorkerConfig(base_url={self.base_url!r}, token='***', "
            f"timeout={self.timeout!r}, api_prefix={self.api_prefix!r}, "
            f"max_connections={self.max_connections!r}, "
            f"max_keepalive_connections={self.max_keepalive_connections!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlgoWorkerConfig:
        """Read ``KITE_ALGO_API_BASE``, ``KITE_ALGO_WORKER_TOKEN`` (required) and
        ``KITE_ALGO_TIMEOUT``; the run-side variables are read by ``RunConfig.from_env``.
        Raises ``ClientValidationError`` when the token is missing or the timeout is bad."""
        env = os.environ if environ is None else environ
        token = env.get("KITE_ALGO_WORKER_TOKEN", "")
        if not token.strip():
            raise ClientValidationError("KITE_ALGO_WORKER_TOKEN is not set", rule="config.token")
        raw_timeout = env.get("KITE_ALGO_TIMEOUT", "10")
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise ClientValidationError(
                f"KITE_ALGO_TIMEOUT must be a number, got {raw_timeout!r}", rule="config.timeout"
            ) from None
        return cls(
            base_url=env.get("KITE_ALGO_API_BASE", "").strip() or DEFAULT_BASE_URL,
            token=token.strip(),
            timeout=timeout,
        )


def env_run_defaults(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(account_scope, execution_mode)`` from ``KITE_ALGO_ACCOUNT_SCOPE`` (default
    ``kite:paper-a``) and ``KITE_ALGO_EXECUTION_MODE`` (default ``dry_run``).

    Raises ``ClientValidationError`` for an unknown mode. The live gate is the caller's: check
    the mode finally chosen with :func:`require_live_enabled` (``RunConfig.from_env`` does).
    """
    env = os.environ if environ is None else environ
    scope = env.get("KITE_ALGO_ACCOUNT_SCOPE", "").strip() or DEFAULT_ACCOUNT_SCOPE
    mode = env.get("KITE_ALGO_EXECUTION_MODE", "").strip().lower() or DEFAULT_EXECUTION_MODE
    if mode not in EXECUTION_MODES:
        raise ClientValidationError(
            f"KITE_ALGO_EXECUTION_MODE must be one of {', '.join(EXECUTION_MODES)}, got {mode!r}",
            rule="config.execution_mode",
        )
    return scope, mode


def live_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """True when the operator acknowledged live trading with ``KITE_ALGO_ENABLE_LIVE=1``."""
    env = os.environ if environ is None else environ
    return env.get("KITE_ALGO_ENABLE_LIVE", "").strip() == "1"


def require_live_enabled(mode: str | None, environ: Mapping[str, str] | None = None) -> None:
    """Raise ``LiveTradingRefusedError`` if ``mode`` is ``"live"`` and the gate is closed.
    Other modes pass. Never blocks."""
    if mode == "live" and not live_enabled(environ):
        raise LiveTradingRefusedError(
            "live execution refused: set KITE_ALGO_ENABLE_LIVE=1 to acknowledge live trading",
            rule="live_gate",
        )
