"""The image's HEALTHCHECK script probes what the container runs: the daemon or the sandbox."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from types import ModuleType

from tests.sandbox.test_standalone import standalone

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "healthcheck.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_probe_follows_the_command() -> None:
    probe = _script().probe_url
    daemon = ["/opt/venv/bin/python", "/opt/venv/bin/kite-supervisor", "--log-format", "json", "run"]
    assert probe(daemon) == "http://127.0.0.1:9464/healthz"
    sandbox = ["/sbin/docker-init", "--", "kite-supervisor", "sandbox", "--port", "18800"]
    assert probe(sandbox) == "http://127.0.0.1:18800/api/algo-workers/worker/health"
    assert probe(["kite-supervisor", "sandbox"]) == "http://127.0.0.1:18777/api/algo-workers/worker/health"
    assert probe(["python", "-m", "http.server"]) is None


def test_a_live_sandbox_is_healthy_and_a_closed_port_is_not() -> None:
    healthy = _script().healthy
    with standalone() as (url, _):
        port = url.rsplit(":", 1)[1]
        # the health route wants a token (401): any answer shows the event loop is alive
        assert healthy(f"http://127.0.0.1:{port}/api/algo-workers/worker/health")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    assert not healthy(f"http://127.0.0.1:{free}/api/algo-workers/worker/health")
    assert not healthy(f"http://127.0.0.1:{free}/healthz")
