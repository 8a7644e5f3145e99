#!/usr/bin/env python3
"""Live exit preview: look at the exit plan before sending it.

    KITE_ALGO_API_BASE=<url> KITE_ALGO_WORKER_TOKEN=<token> \
        python3 plugins/scripts/live_exit_preview.py [--confirm]

``exit_run(dry_run=True)`` returns the backend's plan (legs to close, orders it would send)
and changes nothing. Only ``--confirm`` sends the real exit, with the same reason and key as
the preview, so what was reviewed is what is sent and a retry cannot exit twice. Live mode is
refused unless KITE_ALGO_ENABLE_LIVE=1. Defaults to ``paper`` (a ``dry_run`` run has nothing to
flatten, and an exit closes it). For the demo an entry is placed first unless ``--no-entry``.
"""

from __future__ import annotations

import argparse

from _example_env import load_env

from supervisor.client import KiteAlgoWorkerClient, RunConfig, equity_market_order


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--confirm", action="store_true", help="send the real exit after the preview")
    parser.add_argument("--no-entry", action="store_true", help="do not place the demo entry")
    args = parser.parse_args()
    env = load_env(default_mode="paper")
    config = RunConfig(
        strategy_run_id=env.run_id("live_exit_preview"),
        template_id="exit-preview",
        account_scope=env.account_scope,
        execution_mode=env.execution_mode,
        metadata={"strategy_family": "discretionary_strategy", "strategy_name": "Exit Preview"},
    )
    client = KiteAlgoWorkerClient(env.config())
    try:
        with client.run(config) as run:
            if not args.no_entry and env.execution_mode != "live":
                safety = run.safety_check()
                if safety.can_trade:
                    run.place_order(
                        equity_market_order("SBIN", "BUY", 5),
                        idempotency_key=f"{run.run_id}:entry:001",
                        safety_token=safety.safety_token,
                    )
            reason, key = "operator exit after preview", f"{run.run_id}:exit:manual"
            if env.execution_mode == "dry_run":
                print("dry_run run: nothing to flatten (an exit would just close the run)")
                return 0
            preview = run.exit_run(reason=reason, idempotency_key=key, dry_run=True)
            plan = preview.get("exit") or {}
            print("preview:", preview["status"], "- legs to close:")
            for leg in plan.get("legs") or []:
                print(f"  {leg.get('tradingsymbol')} {leg.get('net_quantity')} ({leg.get('product')})")
            if not args.confirm:
                print("not exiting: rerun with --confirm to send this exit")
                return 0
            done = run.exit_run(reason=reason, idempotency_key=key)
            print("exit:", done["status"])
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
