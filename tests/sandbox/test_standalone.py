"""``kite-supervisor sandbox`` as its own process serves a worker flow from this process."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kite_algo_worker import AlgoWorkerConfig, KiteAlgoWorkerClient, RunConfig, equity_market_order

TOKEN = "kwa_" + "p" * 43


MODULE = [sys.executable, "-m", "supervisor"]
# the installed console script, as an operator runs it
SCRIPT = [str(Path(sys.executable).with_name("kite-supervisor"))]


@contextmanager
def standalone(*extra: str, launcher: list[str] = MODULE) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    cmd = [*launcher, "sandbox", "--port", "0", "--token", TOKEN, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()  # the first line is the base URL
        assert url.startswith("http://127.0.0.1:"), url
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _worker_flow(url: str) -> None:
    client = KiteAlgoWorkerClient(AlgoWorkerConfig(base_url=url, token=TOKEN))
    config = RunConfig(
        strategy_run_id="run_proc_001",
        template_id="demo",
        account_scope="kite:paper-a",
        execution_mode="dry_run",
    )
    with client.run(config) as run:
        safety = run.safety_check()
        assert safety.can_trade
        result = run.place_order(
            equity_market_order("INFY", "BUY", 1),
            idempotency_key=f"{run.run_id}:entry:001",
            safety_token=safety.safety_token,
        )
        assert result["status"] == "accepted"


@pytest.mark.parametrize(
    ("launcher", "loop"),
    [(MODULE, []), (MODULE, ["--asyncio"]), (SCRIPT, [])],
    ids=["trio", "asyncio", "kite-supervisor"],
)
def test_standalone_serves_a_worker_and_stops_on_sigterm(launcher: list[str], loop: list[str]) -> None:
    with standalone(*loop, launcher=launcher) as (url, proc):
        _worker_flow(url)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_standalone_restart_keeps_runs(tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.db")
    with standalone("--db", db) as (url, _):
        _worker_flow(url)
    with standalone("--db", db) as (url, _):
        client = KiteAlgoWorkerClient(AlgoWorkerConfig(base_url=url, token=TOKEN))
        run = client.get_run("run_proc_001")
        assert run["status"] == "open" and run["worker_session_nonce"] is None
        replay = client.place_order("run_proc_001", equity_market_order("INFY", "BUY", 1),
                                    idempotency_key="run_proc_001:entry:001")  # fmt: skip
        assert replay["status"] == "deduped"
