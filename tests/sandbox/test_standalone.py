"""``kite-supervisor sandbox`` as its own process serves a worker flow from this process.

The flow is the seed's managed flow on our blocking client (the official SDKs run against the
standalone sandbox in ``tests/sdk``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kite_algo_worker import equity_market_order

from supervisor.client import AlgoWorkerConfig, KiteAlgoWorkerClient, RunConfig

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


def _worker_flow(url: str, scope: str = "kite:paper-a") -> None:
    config = RunConfig(
        strategy_run_id="run_proc_001",
        template_id="demo",
        account_scope=scope,
        execution_mode="dry_run",
    )
    with KiteAlgoWorkerClient(AlgoWorkerConfig(base_url=url, token=TOKEN)) as client:
        assert client.health()["account_scope"] == scope  # the token has the sandbox's scope
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
    with (
        standalone("--db", db) as (url, _),
        KiteAlgoWorkerClient(AlgoWorkerConfig(base_url=url, token=TOKEN)) as client,
    ):
        run = client.get_run("run_proc_001")
        assert run["status"] == "open" and run["worker_session_nonce"] is None
        replay = client.place_order("run_proc_001", equity_market_order("INFY", "BUY", 1),
                                    idempotency_key="run_proc_001:entry:001")  # fmt: skip
        assert replay["status"] == "deduped"


def test_standalone_account_scope_option() -> None:
    with standalone("--account-scope", "kite:paper-desk") as (url, _):
        _worker_flow(url, "kite:paper-desk")
        with KiteAlgoWorkerClient(AlgoWorkerConfig(base_url=url, token=TOKEN)) as client:
            assert client.get_funds(mode="paper", account_scope=None)["account_scope"] == "kite:paper-desk"
    bad = subprocess.run(
        [*MODULE, "sandbox", "--port", "0", "--account-scope", "paper-a"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "Unsupported account_scope 'paper-a'" in bad.stderr
