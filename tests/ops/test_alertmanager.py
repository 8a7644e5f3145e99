"""The compose stack's Alertmanager: its config passes amtool, and a real Alertmanager with it
delivers a Prometheus alert to a webhook (the receiver of deploy/alertmanager/alert_log.py's
shape). Real seconds (~3 s): marked ``slow``; skipped, by name, without the Debian package."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import yaml

from tests.daemon.receiver import Receiver

AM = Path(__file__).resolve().parents[2] / "deploy" / "alertmanager"


def _alert_log() -> Any:  # a script, loaded from its file
    spec = importlib.util.spec_from_file_location("alert_log", AM / "alert_log.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_alert_log_prints_one_line_per_alert() -> None:
    lines = _alert_log().lines(
        {
            "alerts": [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "KiteStrategyQuarantined",
                        "severity": "critical",
                        "strategy": "a",
                    },
                    "annotations": {"summary": "a is quarantined"},
                    "startsAt": "2026-12-02T10:00:00Z",
                }
            ]
        }
    )
    assert lines == [
        '{"status": "firing", "alertname": "KiteStrategyQuarantined", "severity": "critical", '
        '"strategy": "a", "summary": "a is quarantined", "startsAt": "2026-12-02T10:00:00Z"}'
    ]


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")
def test_amtool_check_config() -> None:
    result = subprocess.run(
        ["amtool", "check-config", "alertmanager.yml"],
        cwd=AM,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "1 receivers" in result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("prometheus-alertmanager") is None, reason="prometheus-alertmanager not installed"
)
async def test_a_real_alertmanager_routes_an_alert_to_the_webhook(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    receiver = Receiver(200)
    hook = await receiver.start(nursery)
    config = yaml.safe_load((AM / "alertmanager.yml").read_text())
    # the shipped routes and receiver, pointed at this test's webhook and without the grouping wait
    config["receivers"][0]["webhook_configs"][0]["url"] = f"{hook}/alerts"
    config["route"]["group_wait"] = "0s"
    (tmp_path / "am.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with trio.fail_after(30):
        process = await nursery.start(
            partial(
                trio.run_process,
                [
                    "prometheus-alertmanager",
                    f"--config.file={tmp_path / 'am.yml'}",
                    f"--storage.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        )
        try:
            alert = {
                "labels": {"alertname": "KiteStrategyQuarantined", "severity": "critical", "strategy": "x"},
                "annotations": {"summary": "x is quarantined"},
            }
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
                while True:
                    try:
                        posted = await http.post("/api/v2/alerts", json=[alert])
                        break
                    except httpx.TransportError:
                        await trio.sleep(0.2)  # polling an external process; bounded by fail_after
                assert posted.status_code == 200
            path, document = await receiver.received.receive()
        finally:
            process.terminate()
    assert path == "/alerts"
    assert document["receiver"] == "operator-webhook" and document["status"] == "firing"
    [got] = document["alerts"]
    assert got["labels"] == alert["labels"] and got["annotations"] == alert["annotations"]
    assert (
        _alert_log()
        .lines(document)[0]
        .startswith('{"status": "firing", "alertname": "KiteStrategyQuarantined"')
    )
