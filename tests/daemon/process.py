"""The daemon as a real process (``python -m supervisor run``) for the tests that need real
signals and a real exit: plugins installed as entry points, its stderr captured, its HTTP
address read from its log line, and readiness awaited on ``/readyz``.

Used by ``tests/daemon/test_signals.py`` and ``tests/faults/test_daemon_shutdown.py`` (and the
plugin installer and environment by ``tests/faults/test_daemon_auth.py``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import trio

__all__ = ["ROOT", "DaemonProcess", "install_plugins", "start_daemon_process", "subprocess_env"]

ROOT = Path(__file__).resolve().parents[2]
_HTTP_ON = re.compile(rb"HTTP on (http://127\.0\.0\.1:\d+)")


def install_plugins(where: Path, entry_points: dict[str, str]) -> None:
    """A distribution on PYTHONPATH registering ``entry_points`` (name -> ``module:Class``)."""
    dist = where / "daemon_test_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: daemon-test-plugins\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (dist / "entry_points.txt").write_text("[kite_algo_supervisor.strategies]\n" + lines)


def subprocess_env(site: Path, **extra: str) -> dict[str, str]:
    """This environment with the project and ``site`` on PYTHONPATH, and no worker token
    unless ``extra`` gives one (an embedded sandbox makes its own)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)]), **extra}
    if "KITE_ALGO_WORKER_TOKEN" not in extra:
        env.pop("KITE_ALGO_WORKER_TOKEN", None)
    return env


@dataclass
class DaemonProcess:
    """A started daemon: its process, its HTTP address and the stderr read so far."""

    proc: trio.Process
    url: str
    log: bytes

    @property
    def text(self) -> str:
        return self.log.decode()

    async def wait_exit(self) -> int:
        """Read stderr to its end, then the exit code (blocks; bound it with a deadline)."""
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.receive_some():
            self.log += chunk
        return await self.proc.wait()


async def start_daemon_process(
    nursery: trio.Nursery, config: Path, env: dict[str, str], *, ready_polls: int = 100
) -> DaemonProcess:
    """Start ``python -m supervisor run --config config`` in ``nursery`` and return once its
    HTTP port is known and ``/readyz`` answers 200 (polled every 0.1 s, ``ready_polls`` times:
    a real process on a shared machine; the caller's ``fail_after`` bounds the whole)."""
    proc: trio.Process = await nursery.start(
        partial(
            trio.run_process,
            [sys.executable, "-m", "supervisor", "run", "--config", str(config)],
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(ROOT),
            check=False,
        )
    )
    assert proc.stderr is not None
    log = b""
    while (match := _HTTP_ON.search(log)) is None:
        chunk = await proc.stderr.receive_some()
        assert chunk, log.decode()  # exited before serving HTTP
        log += chunk
    url = match.group(1).decode()
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        for _ in range(ready_polls):
            if (await http.get("/readyz")).status_code == 200:
                break
            await trio.sleep(0.1)
    return DaemonProcess(proc, url, log)
