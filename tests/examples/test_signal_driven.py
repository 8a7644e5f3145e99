"""signal_driven hosted by the real daemon: the watched folder and the HTTP endpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import trio
import trio.testing
from kite_algo_examples.signal_driven import SignalDriven

from supervisor.sandbox import SandboxHandle

from .conftest import decisions, hosted, intent_keys, start_supervisor


def drop(inbox: Path, name: str, body: Any) -> None:
    """Write a signal the way a producer should: a dot-file, then an atomic rename."""
    inbox.mkdir(parents=True, exist_ok=True)
    tmp = inbox / f".{name}.tmp"
    tmp.write_text(body if isinstance(body, str) else json.dumps(body))
    tmp.rename(inbox / name)


async def test_folder_signals_are_placed_or_rejected_and_every_file_is_kept(
    tmp_path: Path,
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: Any,
    autojump_clock: trio.testing.MockClock,
) -> None:
    inbox = tmp_path / "inbox"
    good = {"signal_id": "s-001", "symbol": "NSE:INFY", "side": "BUY", "quantity": 2, "note": "breakout"}
    drop(inbox, "001-good.json", good)
    drop(inbox, "002-typo.json", {**good, "signal_id": "s-002", "qty": 1})  # unknown field
    drop(inbox, "003-broken.json", "{not json")
    drop(inbox, "004-too-big.json", {**good, "signal_id": "s-004", "quantity": 500})
    drop(inbox, "005-again.json", good)  # the same signal delivered twice
    params = {"inbox": str(inbox), "poll_interval_s": 1, "max_quantity": 100}
    sup = await start_supervisor(nursery, client, hosted("sig", SignalDriven, params=params))
    await trio.sleep(5)

    # exactly one order, keyed by the signal id
    assert intent_keys(sandbox, "run-sig") == ["run-sig:signal:s-001"]
    order = sandbox.state.intents[("run-sig", "run-sig:signal:s-001")]["order"]
    assert (order["tradingsymbol"], order["quantity"]) == ("INFY", 2)
    # nothing lost: every file is filed, with its outcome next to it
    assert sorted(p.name for p in inbox.glob("*.json")) == []
    done = sorted(p.name for p in (inbox / "done").iterdir())
    assert done == [
        "001-good.json",
        "001-good.json.result.json",
        "005-again.json",
        "005-again.json.result.json",
    ]
    again = json.loads((inbox / "done" / "005-again.json.result.json").read_text())
    assert again["intent_status"] == "deduped"
    rejected = inbox / "rejected"
    assert "qty: unknown field" in (rejected / "002-typo.json.reason.txt").read_text()
    assert "not valid JSON" in (rejected / "003-broken.json.reason.txt").read_text()
    assert "exceeds max_quantity 100" in (rejected / "004-too-big.json.reason.txt").read_text()
    assert json.loads((rejected / "004-too-big.json").read_text())["quantity"] == 500  # content kept
    # every decision is on the timeline
    logged = [(e["payload"]["decision_type"], e["payload"]["action"]) for e in decisions(sandbox, "run-sig")]
    assert logged == [
        ("signal", "enter"),
        ("signal", "skip"),
        ("signal", "skip"),
        ("signal", "skip"),
        ("signal", "enter"),
        ("signal", "observe"),  # the duplicate, deduplicated by the backend
    ]
    assert sup.runners["sig"].progress.metrics == {"placed": 2, "rejected": 3, "blocked": 0, "error": 0}


async def test_a_blocked_run_keeps_the_signal_until_it_may_trade(
    tmp_path: Path,
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: Any,
    autojump_clock: trio.testing.MockClock,
) -> None:
    inbox = tmp_path / "inbox"
    params = {"inbox": str(inbox), "poll_interval_s": 1}
    await start_supervisor(nursery, client, hosted("held", SignalDriven, params=params))
    await trio.sleep(1)
    sandbox.state.runs["run-held"].status = "paused"
    drop(inbox, "a.json", {"signal_id": "h-1", "symbol": "TCS", "side": "SELL", "quantity": 1})
    await trio.sleep(10)
    assert (inbox / "a.json").exists()  # still waiting
    assert intent_keys(sandbox, "run-held") == []
    holds = [e for e in decisions(sandbox, "run-held") if e["payload"]["action"] == "hold"]
    assert len(holds) == 1  # logged once, not on every poll
    sandbox.state.runs["run-held"].status = "open"
    await trio.sleep(2)
    assert not (inbox / "a.json").exists()
    assert intent_keys(sandbox, "run-held") == ["run-held:signal:h-1"]


async def test_http_signals_get_an_answer_and_a_bad_one_places_nothing(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    params = {"inbox": None, "http_port": 0, "allowed_symbols": ["NSE:INFY", "NSE:TCS"]}
    await start_supervisor(nursery, client, hosted("web", SignalDriven, params=params))
    await trio.sleep(1)
    announced = decisions(sandbox, "run-web")[0]["summary"]
    match = re.search(r"(http://127\.0\.0\.1:\d+)/signals", announced)
    assert match, announced
    with trio.fail_after(30):
        async with httpx.AsyncClient(base_url=match.group(1)) as http:
            ok = await http.post(
                "/signals", json={"signal_id": "w-1", "symbol": "TCS", "side": "BUY", "quantity": 1}
            )
            assert ok.status_code == 200, ok.text
            assert ok.json()["outcome"] == "placed"
            assert ok.json()["idempotency_key"] == "run-web:signal:w-1"
            bad = await http.post(
                "/signals", json={"signal_id": "w-2", "symbol": "SBIN", "side": "BUY", "quantity": 1}
            )
            assert bad.status_code == 422
            assert bad.json() == {
                "outcome": "rejected",
                "reason": "symbol NSE:SBIN is not in allowed_symbols",
                "signal_id": "w-2",
            }
            no_price = {"signal_id": "w-3", "symbol": "INFY", "side": "BUY", "quantity": 1}
            no_price["order_type"] = "LIMIT"
            limit = await http.post("/signals", json=no_price)
            assert limit.status_code == 422 and "needs a price" in limit.json()["reason"]
            assert (await http.get("/signals")).status_code == 405
            huge = await http.post("/signals", content=b"{" + b" " * 20_000 + b"}")
            assert huge.status_code == 413
    assert intent_keys(sandbox, "run-web") == ["run-web:signal:w-1"]
    skips = [e for e in decisions(sandbox, "run-web") if e["payload"]["action"] == "skip"]
    assert [e["payload"]["metadata"]["signal_id"] for e in skips] == ["w-2", "w-3"]


async def test_a_backend_rejection_files_the_signal_as_rejected_with_the_backend_reason(
    tmp_path: Path,
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: Any,
    autojump_clock: trio.testing.MockClock,
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "huge.json", {"signal_id": "big-1", "symbol": "NSE:INFY", "side": "BUY", "quantity": 90_000})
    params = {"inbox": str(inbox), "max_quantity": 100_000}
    sup = await start_supervisor(nursery, client, hosted("poor", SignalDriven, params=params))
    await trio.sleep(3)
    reason = (inbox / "rejected" / "huge.json.reason.txt").read_text()
    assert "Insufficient" in reason  # the paper account cannot pay for it: the key is consumed, no fill
    stored = sandbox.state.intents[("run-poor", "run-poor:signal:big-1")]
    assert stored["status"] == "rejected"
    assert sup.runners["poor"].progress.metrics["rejected"] == 1
    assert [e["payload"]["action"] for e in decisions(sandbox, "run-poor")] == ["enter", "skip"]
