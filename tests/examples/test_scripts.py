"""The six standalone scripts, each run as a real process against a standalone sandbox process
(`kite-supervisor sandbox --port 0`), configured only through the seed's environment variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "plugins" / "scripts"
PREFIX = "/api/algo-workers"


@pytest.fixture(scope="module")
def backend() -> Iterator[dict[str, str]]:
    """A standalone sandbox: URL and generated token from its first two stdout lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KITE_ALGO_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor", "sandbox", "--port", "0", "--tick-interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        token_line = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        assert token_line.startswith("KITE_ALGO_WORKER_TOKEN="), "no generated token line"
        yield {"KITE_ALGO_API_BASE": url, "KITE_ALGO_WORKER_TOKEN": token_line.partition("=")[2]}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - diagnostics only
            proc.kill()
            proc.wait()


def run_script(
    name: str, backend: dict[str, str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KITE_ALGO_")}
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **backend, **(env or {})},
        check=False,
    )


def api(backend: dict[str, str], path: str) -> Any:
    headers = {"Authorization": f"Bearer {backend['KITE_ALGO_WORKER_TOKEN']}"}
    response = httpx.get(backend["KITE_ALGO_API_BASE"] + PREFIX + path, headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()


def timeline(backend: dict[str, str], run_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = api(backend, f"/worker/runs/{run_id}/timeline?limit=1000")["events"]
    return events


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kwa_" not in done.stdout + done.stderr  # the token is never printed
    return done.stdout


def test_basic_equity_defaults_to_dry_run_and_reruns_without_a_second_order(backend: dict[str, str]) -> None:
    out = ok(run_script("basic_equity_worker.py", backend))
    assert "health: healthy" in out
    assert "run run_basic_equity_dry_run_001: open (dry_run)" in out
    assert "entry: accepted validated" in out
    assert "exit: closed" in out
    # the run is closed now: a rerun says so instead of trading
    again = run_script("basic_equity_worker.py", backend)
    assert again.returncode != 0 and "is closed: set KITE_ALGO_RUN_ID" in again.stderr


def test_basic_equity_in_paper_fills_and_reads_pnl(backend: dict[str, str]) -> None:
    out = ok(run_script("basic_equity_worker.py", backend, env={"KITE_ALGO_EXECUTION_MODE": "paper"}))
    assert "entry: accepted filled" in out
    assert "net P&L:" in out
    assert api(backend, "/worker/runs/run_basic_equity_paper_001")["status"] == "closed"


@pytest.mark.parametrize("gate", [None, "0", "yes"])
def test_every_script_refuses_live_without_the_gate(backend: dict[str, str], gate: str | None) -> None:
    env = {"KITE_ALGO_EXECUTION_MODE": "live"} | ({"KITE_ALGO_ENABLE_LIVE": gate} if gate else {})
    for script in sorted(SCRIPTS.glob("*.py")):
        if script.name.startswith("_"):
            continue
        args = ["/nonexistent"] if script.name == "signal_driven_worker.py" else []
        done = run_script(script.name, backend, *args, env=env)
        assert done.returncode == 1, script.name
        assert "live execution refused: set KITE_ALGO_ENABLE_LIVE=1" in done.stderr, script.name


def test_a_missing_token_is_a_clear_error(backend: dict[str, str]) -> None:
    done = run_script("managed_run_worker.py", {"KITE_ALGO_API_BASE": backend["KITE_ALGO_API_BASE"]})
    assert done.returncode == 1 and "KITE_ALGO_WORKER_TOKEN is not set" in done.stderr


def test_managed_run_places_three_checked_entries_and_releases_the_session(backend: dict[str, str]) -> None:
    out = ok(run_script("managed_run_worker.py", backend))
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("entry")] == [
        "entry 001",
        "entry 002",
        "entry 003",
    ]
    run = api(backend, "/worker/runs/run_managed_paper_001")
    assert run["status"] == "open" and not run.get("worker_session_nonce")  # released, not exited
    # a rerun replays the same keys: nothing new is placed
    again = ok(run_script("managed_run_worker.py", backend))
    assert again.count("deduped") == 3


def test_mean_reversion_warms_up_and_judges_bars(backend: dict[str, str]) -> None:
    out = ok(
        run_script(
            "mean_reversion_worker.py", backend, "--interval", "minute", "--entry-z", "0.1", "--seconds", "2"
        )
    )
    assert "warmed up on" in out
    first = out.splitlines()[1]
    assert " z=" in first  # the last warm-up bar was judged at once
    events = timeline(backend, "run_mean_reversion_paper_001")
    decisions = [e for e in events if e["event_kind"] == "decision"]
    if "BUY" in first:
        assert decisions and decisions[0]["payload"]["action"] == "enter"


def test_option_spread_resolves_enters_and_exits(backend: dict[str, str]) -> None:
    out = ok(run_script("option_basket_worker.py", backend, "--exit"))
    legs = [line for line in out.splitlines() if line.startswith("leg:")]
    assert len(legs) == 2 and legs[0].startswith("leg: SELL") and legs[1].startswith("leg: BUY")
    assert "enter: entered" in out
    assert "exit: exited" in out


def test_exit_preview_changes_nothing_until_confirmed(backend: dict[str, str]) -> None:
    out = ok(run_script("live_exit_preview.py", backend))
    assert "preview: dry_run" in out and "SBIN 5" in out
    assert "not exiting" in out
    assert api(backend, "/worker/runs/run_live_exit_preview_paper_001")["status"] == "open"
    out = ok(run_script("live_exit_preview.py", backend, "--confirm", "--no-entry"))
    assert "exit: closed" in out
    assert api(backend, "/worker/runs/run_live_exit_preview_paper_001")["status"] == "closed"


def test_signal_driven_files_every_signal_and_rejects_bad_ones(
    backend: dict[str, str], tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = {"signal_id": "a-1", "symbol": "NSE:TCS", "side": "BUY", "quantity": 1}
    (inbox / "1.json").write_text(json.dumps(good))
    (inbox / "2.json").write_text(json.dumps({**good, "signal_id": "a-2", "quantity": 0}))
    out = ok(run_script("signal_driven_worker.py", backend, str(inbox)))
    assert "1.json: accepted / filled" in out
    assert "2.json: rejected" in out
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["1.json", "1.json.result.json"]
    assert "quantity" in (inbox / "rejected" / "2.json.reason.txt").read_text()
    actions = [e["payload"]["action"] for e in timeline(backend, "run_signal_driven_paper_001")
               if e["event_kind"] == "decision"]  # fmt: skip
    assert actions == ["enter", "skip"]
