#!/usr/bin/env python3
"""Basic equity, raw client: every step explicit, no session, no hidden plumbing.

    kite-supervisor sandbox --port 0          # prints the URL and KITE_ALGO_WORKER_TOKEN=...
    KITE_ALGO_API_BASE=<url> KITE_ALGO_WORKER_TOKEN=<token> python3 plugins/scripts/basic_equity_worker.py

Health, create-or-recover the run (get first: a create is never a recovery), one market entry
with a deterministic idempotency key (running the script again places nothing new), the run's
grouped P&L, and an exit with its own key. Defaults to ``dry_run`` (KITE_ALGO_EXECUTION_MODE).
"""

from __future__ import annotations

from _example_env import load_env

from supervisor.client import KiteAlgoWorkerClient, NotFoundError, equity_market_order


def main() -> int:
    env = load_env(default_mode="dry_run")
    run_id = env.run_id("basic_equity")
    client = KiteAlgoWorkerClient(env.config())
    try:
        print("health:", client.health()["status"])
        try:
            run = client.get_run(run_id)
        except NotFoundError:
            run = client.create_run(
                strategy_run_id=run_id,
                template_id="basic-equity",
                account_scope=env.account_scope,
                execution_mode=env.execution_mode,
                metadata={"strategy_family": "indicator_strategy", "strategy_name": "Basic Equity"},
            )
        print(f"run {run_id}: {run['status']} ({run['execution_mode']})")
        if run["status"] != "open":
            raise SystemExit(f"run {run_id} is {run['status']}: set KITE_ALGO_RUN_ID to start a new one")
        result = client.place_order(
            run_id, equity_market_order("INFY", "BUY", 1), idempotency_key=f"{run_id}:entry:001"
        )
        print("entry:", result["status"], result["result"]["status"])  # accepted|deduped, filled|validated
        pnl = client.get_run_pnl(run_id)
        print("net P&L:", pnl["totals"]["net_pnl"])
        done = client.exit_run(run_id, reason="strategy complete", idempotency_key=f"{run_id}:exit:001")
        print("exit:", done["status"])
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
