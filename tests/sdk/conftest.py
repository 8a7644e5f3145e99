"""The outside judges: the official SDKs 0.7.4 and 0.13.0 against a standalone sandbox.

``kite-supervisor sandbox`` runs as its own process on 127.0.0.1 (port 0), its day pinned with
``--epoch``; each SDK runs ``sdk_flows.py`` in a subprocess. 0.7.4 is the project's dev
dependency; 0.13.0 has the same distribution name, so it lives in ``.venv/sdk-0.13`` (installed
by ``python3 tasks.py test`` from ``sdk-0.13.txt``; installed here once if a plain ``pytest``
finds it missing) and runs with ``PYTHONPATH`` pointing there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "sdk-0.13.txt"
SDK_013_DIR = Path(sys.prefix) / "sdk-0.13"  # where tasks.py installs it
TOKEN = "kwa_" + "j" * 43
EPOCH = "2026-05-08T09:30:00+05:30"  # a Friday, in session: the calendar tests' day


def _sdk_013_dir() -> Path:
    if not (SDK_013_DIR / "kite_algo_worker").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(SDK_013_DIR),
             "-r", str(REQUIREMENTS)],
            check=True,
            timeout=300,
        )  # fmt: skip
    return SDK_013_DIR


@dataclass(frozen=True)
class Judge:
    """Runs one flow of ``sdk_flows.py`` with one SDK version against the standalone sandbox."""

    base_url: str
    version: str  # "0.7.4" or "0.13.0"
    sdk_dir: Path | None  # None: the project environment's SDK (0.7.4)

    def run(self, flow: str) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KITE_ALGO_ACCOUNT_SCOPE")}
        env.update(KITE_ALGO_API_BASE=self.base_url, KITE_ALGO_WORKER_TOKEN=TOKEN)
        if self.sdk_dir is not None:
            env["PYTHONPATH"] = str(self.sdk_dir)
        done = subprocess.run(
            [sys.executable, str(HERE / "sdk_flows.py"), flow],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"SDK {self.version} {flow} failed:\n{done.stderr}"
        assert TOKEN not in done.stdout + done.stderr
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["version"] == self.version  # the intended SDK ran
        return result


@pytest.fixture(scope="module")
def standalone() -> Iterator[str]:
    """A ``kite-supervisor sandbox`` process; yields its base URL; SIGTERM at the end."""
    cmd = [sys.executable, "-m", "supervisor", "sandbox", "--port", "0", "--token", TOKEN, "--epoch", EPOCH]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def sdk074(standalone: str) -> Judge:
    return Judge(standalone, "0.7.4", None)


@pytest.fixture(scope="module")
def sdk013(standalone: str) -> Judge:
    return Judge(standalone, "0.13.0", _sdk_013_dir())
