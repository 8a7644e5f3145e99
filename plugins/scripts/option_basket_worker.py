#!/usr/bin/env python3
"""Options spread: the backend picks the contracts; the options run is entered explicitly.

    KITE_ALGO_API_BASE=<url> KITE_ALGO_WORKER_TOKEN=<token> \
        python3 plugins/scripts/option_basket_worker.py [--exit]

1. ``options.ensure_session("NIFTY")``, then ``resolve_spread`` turns "sell the ATM call, buy
   the next strike up, this week" into real legs (symbols, lot-size quantities, prices). The
   resolver builds payloads only: it never creates a run or trades.
2. The options run is created for our managed run's id (recovered on a rerun), its entry is
   previewed, then entered with a fresh safety token and our session nonce.
3. The protection state is read back; ``--exit`` exits the spread, otherwise it stays open.
Defaults to ``paper``.
"""

from __future__ import annotations

import argparse

from _example_env import load_env

from supervisor.client import (
    KiteAlgoWorkerClient,
    NotFoundError,
    RunConfig,
    SpreadLegSelection,
    SpreadSpec,
    resolve_spread,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--underlying", default="NIFTY")
    parser.add_argument("--exit", action="store_true", help="exit the spread at the end")
    args = parser.parse_args()
    env = load_env(default_mode="paper")
    config = RunConfig(
        strategy_run_id=env.run_id("option_spread"),
        template_id="option-spread",
        account_scope=env.account_scope,
        execution_mode=env.execution_mode,
        metadata={"strategy_family": "options_strategy", "strategy_name": "Bear Call Spread"},
    )
    client = KiteAlgoWorkerClient(env.config())
    try:
        with client.run(config) as run:
            options = client.options
            options.ensure_session(args.underlying)
            spread = resolve_spread(
                options,
                underlying=args.underlying,
                product="MIS",
                spec=SpreadSpec(
                    spread_type="vertical_call_spread",
                    expiry="current_week",
                    legs=[
                        SpreadLegSelection(
                            selection={"option_type": "CE", "moneyness": "ATM"}, transaction_type="SELL"
                        ),
                        SpreadLegSelection(
                            selection={"option_type": "CE", "moneyness": "+1_strike"}, transaction_type="BUY"
                        ),
                    ],
                ),
            )
            for leg in spread:
                print(f"leg: {leg.transaction_type} {leg.quantity} {leg.tradingsymbol} @ {leg.ltp}")
            try:
                state = options.get_run_state(run.run_id)
            except NotFoundError:
                state = options.create_run(
                    strategy_name=f"{args.underlying} bear call spread",
                    product="MIS",
                    legs=[leg.model_dump(exclude_none=True) for leg in spread],
                    protection={"stoploss_pct": 2.0},
                    strategy_run_id=run.run_id,
                )
            if state["status"] in ("created", "entry_previewed"):
                preview = options.preview_entry(run.run_id)
                print("entry preview:", len(preview.get("orders") or []), "orders")
                safety = run.safety_check()
                if not safety.can_trade:
                    raise SystemExit(f"Blocked: {', '.join(safety.blocking_reasons) or safety.run_status}")
                entered = options.enter(
                    run.run_id,
                    safety_token=safety.safety_token,
                    session_nonce=run.session_nonce,
                    idempotency_key=f"{run.run_id}:options:enter",
                )
                print("enter:", entered["status"])
            protection = options.get_protection_state(run.run_id)
            print("protection triggered:", protection.get("triggered"))
            if args.exit:
                exited = options.exit(run.run_id, session_nonce=run.session_nonce)
                print("exit:", exited["status"])
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
