"""The image's HEALTHCHECK: probe whichever server this container runs.

The image runs either the daemon (``kite-supervisor run``: ``/healthz`` on its HTTP port, 9464
unless the config says otherwise) or the standalone sandbox (``kite-supervisor sandbox``: any
HTTP answer from its health route shows its event loop is alive; 401 without a token counts).
The command line is read from ``/proc`` (PID 1 is the init process under ``docker run --init``,
so every process is looked at). Exit 0 healthy, 1 not. Standard library only.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

DAEMON_URL = "http://127.0.0.1:{port}/healthz"
SANDBOX_URL = "http://127.0.0.1:{port}/api/algo-workers/worker/health"


def probe_url(argv: list[str]) -> str | None:
    """The URL to probe for a kite-supervisor command line, None when it is not one."""
    if not any(Path(arg).name == "kite-supervisor" or arg == "supervisor" for arg in argv):
        return None
    if "sandbox" in argv:
        port = argv[argv.index("--port") + 1] if "--port" in argv[:-1] else "18777"
        return SANDBOX_URL.format(port=port)
    port = os.environ.get("KITE_SUPERVISOR_HEALTH_PORT", "9464")
    return DAEMON_URL.format(port=port)


def _command_lines() -> list[list[str]]:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            lines.append([part.decode(errors="replace") for part in raw.split(b"\0") if part])
    return lines


def healthy(url: str) -> bool:
    """Whether the server at ``url`` answers as a live one."""
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:  # the sandbox's health route wants a token: 401 is alive
        return url.endswith("/worker/health") and exc.code < 500
    except OSError:
        return False


def main() -> int:
    url = next((u for argv in _command_lines() if (u := probe_url(argv))), None)
    return 0 if url is not None and healthy(url) else 1


if __name__ == "__main__":
    sys.exit(main())
