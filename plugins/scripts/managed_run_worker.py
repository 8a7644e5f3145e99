#!/usr/bin/env python3
"""Managed lifecycle: the client claims the session, heartbeats and releases it for us.

    KITE_ALGO_API_BASE=<url> KITE_ALGO_WORKER_TOKEN=<token> python3 plugins/scripts/managed_run_worker.py

``client.run(config)`` claims the worker session and releases it on the way out; it never
checks safety, trades or exits on its own. So before **each** order: ``run.safety_check()``,
stop if ``can_trade`` is false, and pass the fresh ``safety_token`` with the order. Defaults to
``paper`` (KITE_ALGO_EXECUTION_MODE); the run stays open for the next invocation.
"""

from __future__ import annotations

from _example_env import load_env

from supervisor.client import KiteAlgoWorkerClient, RunConfig, equity_market_order

ENTRIES = 3


def main() -> int:
    env = load_env(default_mode="paper")
    config = RunConfig(
        strategy_run_id=env.run_id("managed"),
        template_id="managed-demo",
        account_scope=env.account_scope,
        execution_mode=env.execution_mode,
    )
    client = KiteAlgoWorkerClient(env.config())
    try:
        with client.run(config) as run:
            for n in range(1, ENTRIES + 1):
                safety = run.safety_check()
                if not safety.can_trade:
                    raise SystemExit(f"Blocked: {', '.join(safety.blocking_reasons) or safety.run_status}")
                result = run.place_order(
                    equity_market_order("INFY", "BUY", 1),
                    idempotency_key=f"{run.run_id}:entry:{n:03d}",
                    safety_token=safety.safety_token,
                )
                print(f"entry {n:03d}:", result["status"], result["result"]["status"])
                run.heartbeat(metrics={"last_signal": f"entry-{n:03d}"})
            print("net P&L:", run.get_run_pnl()["totals"]["net_pnl"])
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
