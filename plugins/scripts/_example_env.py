"""The environment of the example scripts: the seed's variables, and the live-mode gate.

| Variable | Meaning | Default |
|---|---|---|
| ``KITE_ALGO_API_BASE`` | backend base URL (the sandbox prints its own) | ``http://localhost:18777`` |
| ``KITE_ALGO_WORKER_TOKEN`` | worker token (never printed) | required |
| ``KITE_ALGO_ACCOUNT_SCOPE`` | account scope | ``kite:paper-a`` |
| ``KITE_ALGO_EXECUTION_MODE`` | ``dry_run``, ``paper`` or ``live`` | per script (dry_run or paper) |
| ``KITE_ALGO_ENABLE_LIVE`` | must be ``1`` for ``live`` | unset: live is refused |
| ``KITE_ALGO_TIMEOUT`` | HTTP timeout in seconds | ``10`` |
| ``KITE_ALGO_RUN_ID`` | override the script's run id (to start a fresh run) | per script |

:func:`load_env` exits the script with a one-line message (``SystemExit``) when something is
missing or live trading is not acknowledged; nothing is sent to the backend before that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from supervisor.client import AlgoWorkerConfig

__all__ = ["ExampleEnv", "load_env"]

MODES = ("dry_run", "paper", "live")


@dataclass(frozen=True)
class ExampleEnv:
    base_url: str
    token: str = field(repr=False)  # a secret: never in reprs or output
    account_scope: str
    execution_mode: str
    timeout: float
    run_id_override: str | None

    def config(self) -> AlgoWorkerConfig:
        return AlgoWorkerConfig(base_url=self.base_url, token=self.token, timeout=self.timeout)

    def run_id(self, name: str) -> str:
        """The script's stable run id (one per scenario and mode), unless overridden."""
        return self.run_id_override or f"run_{name}_{self.execution_mode}_001"


def load_env(default_mode: str, environ: Mapping[str, str] = os.environ) -> ExampleEnv:
    """Read the seed's variables. Raises ``SystemExit`` with the reason when unusable."""
    token = environ.get("KITE_ALGO_WORKER_TOKEN", "").strip()
    if not token:
        raise SystemExit("KITE_ALGO_WORKER_TOKEN is not set (`kite-supervisor sandbox` prints one)")
    mode = environ.get("KITE_ALGO_EXECUTION_MODE", "").strip() or default_mode
    if mode not in MODES:
        raise SystemExit(f"KITE_ALGO_EXECUTION_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "live" and environ.get("KITE_ALGO_ENABLE_LIVE") != "1":
        raise SystemExit("live execution refused: set KITE_ALGO_ENABLE_LIVE=1 to acknowledge live trading")
    try:
        timeout = float(environ.get("KITE_ALGO_TIMEOUT", "") or 10)
    except ValueError:
        raise SystemExit("KITE_ALGO_TIMEOUT must be a number of seconds") from None
    return ExampleEnv(
        base_url=environ.get("KITE_ALGO_API_BASE", "").strip() or "http://localhost:18777",
        token=token,
        account_scope=environ.get("KITE_ALGO_ACCOUNT_SCOPE", "").strip() or "kite:paper-a",
        execution_mode=mode,
        timeout=timeout,
        run_id_override=environ.get("KITE_ALGO_RUN_ID", "").strip() or None,
    )
