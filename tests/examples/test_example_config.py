"""`python3 tasks.py run`'s config, for real: the daemon process hosts all six plugins on the
embedded sandbox, every strategy runs, and SIGTERM releases every session (exit 0)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "examples.yaml"


def test_the_example_config_runs_every_strategy_and_stops_cleanly(tmp_path: Path) -> None:
    prefixes = ("KITE_ALGO_", "SIGNAL_", "KITE_SUPERVISOR_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env |= {"KITE_SUPERVISOR_HTTP_PORT": "0", "SIGNAL_INBOX": str(tmp_path / "inbox")}
    (tmp_path / "inbox").mkdir()
    signal_file = tmp_path / "inbox" / "d1.json"
    signal_file.write_text(json.dumps({"signal_id": "d-1", "symbol": "INFY", "side": "BUY", "quantity": 2}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor", "run", "--config", str(CONFIG)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    log: list[str] = []
    try:
        assert proc.stderr is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, "daemon exited early:\n" + "".join(log)
            log.append(line)
            match = re.search(r"HTTP on (http://127\.0\.0\.1:\d+)", line)
            url = match.group(1) if match else None
        assert url, "".join(log)
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            status = httpx.get(url + "/status", timeout=5).json()
            states = {s["name"]: s["state"] for s in status["strategies"]}
            if set(states.values()) == {"running"} and (tmp_path / "inbox" / "done" / "d1.json").exists():
                break
            time.sleep(0.5)
        assert len(states) == 9 and set(states.values()) == {"running"}, states
        assert (tmp_path / "inbox" / "done" / "d1.json").exists()  # the signal was carried out
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[1]
        log.append(rest)
        assert proc.returncode == 0, "".join(log)
        assert "9 sessions released" in rest
        assert "Traceback" not in "".join(log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
