#!/usr/bin/env python3
"""Screenshots of the web console for the README, from a real daemon with real data.

    .venv/bin/python deploy/console/screenshot.py [--seconds 60] [--strategy basic-infy]

Starts ``kite-supervisor run --config deploy/examples.yaml`` (the example strategies on the
embedded paper sandbox, HTTP on a free loopback port, a fresh state directory), lets it trade for
``--seconds`` so that the money reader has a P&L history to draw, then has Debian's headless
chromium screenshot the strategies table (``/ui``) and one strategy's page
(``/ui/strategies/NAME``) into ``docs/console-strategies.png`` and ``docs/console-strategy.png``.
The daemon is stopped with SIGTERM and must exit 0. Run by hand (needs ``chromium``); the
console itself is tested in ``tests/ops/test_console_browser.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "examples.yaml"
DOCS = ROOT / "docs"
WIDTH = 1400


def screenshot(url: str, png: Path, height: int, work: Path) -> None:
    command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={work / 'chromium'}",
               f"--window-size={WIDTH},{height}", f"--screenshot={png}", url]  # fmt: skip
    png.unlink(missing_ok=True)
    subprocess.run(command, check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not png.exists():
        raise SystemExit(f"chromium wrote no screenshot of {url}")
    print(f"wrote {png} ({png.stat().st_size // 1024} KiB)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60, help="how long the fleet trades first")
    parser.add_argument("--strategy", default="basic-infy", help="the strategy whose page is shot")
    args = parser.parse_args(argv)
    prefixes = ("KITE_ALGO_", "SIGNAL_", "KITE_SUPERVISOR_")  # never a real backend or token
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    with tempfile.TemporaryDirectory(prefix="kite-console-") as tmp:
        work = Path(tmp)
        env |= {"KITE_SUPERVISOR_HTTP_PORT": "0", "SIGNAL_INBOX": str(work / "inbox")}
        log = work / "daemon.log"
        command = [str(Path(sys.executable).parent / "kite-supervisor"), "run", "--config", str(CONFIG),
                   "--state-dir", str(work / "state")]  # fmt: skip
        with log.open("wb") as sink:  # a file, not a pipe: nobody has to keep draining it
            proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=work)
        try:
            deadline = time.monotonic() + 60
            while not (found := re.search(r"HTTP on (http://127\.0\.0\.1:\d+)", log.read_text())):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the daemon did not start:\n{log.read_text()}")
                time.sleep(0.2)  # polling another process's log, bounded by the deadline
            url = found.group(1)
            print(f"daemon {url}; trading for {args.seconds:g} s")
            time.sleep(args.seconds)
            screenshot(f"{url}/ui", DOCS / "console-strategies.png", 620, work)
            screenshot(f"{url}/ui/strategies/{args.strategy}", DOCS / "console-strategy.png", 1000, work)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
        if code != 0:
            raise SystemExit(f"the daemon exited with {code} after SIGTERM:\n{log.read_text()[-3000:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
