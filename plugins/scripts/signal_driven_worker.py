#!/usr/bin/env python3
"""Signal-driven: another system decides, this worker checks and carries out.

    KITE_ALGO_API_BASE=<url> KITE_ALGO_WORKER_TOKEN=<token> \
        python3 plugins/scripts/signal_driven_worker.py signals/inbox [--watch]

Each ``*.json`` file in the folder is one signal (format: ``kite_algo_examples.signals``)::

    {"signal_id": "alert-001", "symbol": "NSE:INFY", "side": "BUY", "quantity": 1}

A bad signal is moved to ``rejected/`` with a ``.reason.txt`` and places nothing; a good one
gets a fresh safety check and is placed with the key ``{run_id}:signal:{signal_id}`` (a signal
sent twice is deduplicated), then moved to ``done/`` with a ``.result.json``. A blocked run
leaves the file where it is. Every decision is logged on the run's timeline. Defaults to ``paper``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _example_env import load_env
from kite_algo_examples.inbox import Inbox
from kite_algo_examples.signals import RejectedSignal, parse_signal

from supervisor.client import KiteAlgoWorkerClient, RunConfig


def handle(run: Any, inbox: Inbox, path: Path, max_quantity: int) -> None:
    parsed = parse_signal(inbox.read(path), max_quantity=max_quantity)
    if isinstance(parsed, RejectedSignal):
        run.log_decision_event(
            decision_type="signal",
            action="skip",
            summary=f"rejected signal {parsed.signal_id or path.name}: {parsed.reason}",
            metadata={"file": path.name, "reason": parsed.reason},
        )
        inbox.file_rejected(path, parsed.reason)
        print(f"{path.name}: rejected ({parsed.reason})")
        return
    signal = parsed.signal
    safety = run.safety_check()
    if not safety.can_trade:
        print(f"{path.name}: held, the run may not trade now: {safety.blocking_reasons}")
        return
    key = f"{run.run_id}:signal:{signal.signal_id}"
    run.log_decision_event(
        decision_type="signal",
        action="enter",
        summary=f"signal {signal.signal_id}: {signal.side} {signal.quantity} {signal.symbol}",
        metadata={"file": path.name, "signal_id": signal.signal_id, "idempotency_key": key},
    )
    result = run.place_order(parsed.order, idempotency_key=key, safety_token=safety.safety_token)
    outcome = {"idempotency_key": key, "intent_status": result["status"]}
    outcome["status"] = result["result"]["status"]
    inbox.file_done(path, outcome)
    print(f"{path.name}: {outcome['intent_status']} / {outcome['status']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--watch", action="store_true", help="keep polling the folder (Ctrl-C stops)")
    parser.add_argument("--max-quantity", type=int, default=100)
    args = parser.parse_args()
    env = load_env(default_mode="paper")
    inbox = Inbox(args.folder)
    inbox.ensure()
    config = RunConfig(
        strategy_run_id=env.run_id("signal_driven"),
        template_id="signal-driven",
        account_scope=env.account_scope,
        execution_mode=env.execution_mode,
    )
    client = KiteAlgoWorkerClient(env.config())
    try:
        with client.run(config) as run:
            while True:
                for path in inbox.pending(limit=100):
                    handle(run, inbox, path, args.max_quantity)
                if not args.watch:
                    break
                run.heartbeat(metrics={"waiting": len(inbox.pending(limit=1000))})
                time.sleep(1.0)  # a blocking script: polling is the simplest honest loop
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
