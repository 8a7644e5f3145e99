"""Docker, compose and Grafana files, checked with what runs here (no Docker engine, no Grafana):
structure, referenced files, ports and commands that agree with the CLI and the configs, and a
dashboard that only queries catalogued metrics."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from supervisor._cli import build_parser
from supervisor._config import parse_config

from .catalogue import exposed_names, referenced_names

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    instructions = dockerfile_instructions()
    stages = [rest for word, rest in instructions if word == "FROM"]
    assert len(stages) >= 2 and " AS build" in stages[0] and " AS runtime" in stages[-1]
    final = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM") :]
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = [rest for word, rest in final if word == "HEALTHCHECK"]
    assert len(health) == 1 and "/usr/local/lib/kite-supervisor/healthcheck.py" in health[0]
    assert "COPY deploy/docker/healthcheck.py /usr/local/lib/kite-supervisor/healthcheck.py" in {
        f"{w} {rest}" for w, rest in final
    }
    assert any(w == "COPY" and rest.startswith("--from=build") for w, rest in final)
    assert not any(w == "RUN" and "build-essential" in rest for w, rest in final)  # compilers stay in stage 1
    for word, rest in instructions:
        assert "KITE_ALGO_WORKER_TOKEN" not in rest, f"{word} {rest}: the token must not be baked in"
        if word in ("COPY", "ADD") and not rest.startswith("--from"):
            for source in shlex.split(rest)[:-1]:
                assert (ROOT / source).exists(), source
    entry = json.loads(next(rest for w, rest in final if w == "ENTRYPOINT"))
    cmd = json.loads(next(rest for w, rest in final if w == "CMD"))
    assert entry[0] == "kite-supervisor"
    build_parser().parse_args(entry[1:] + cmd)  # the CLI accepts the image's default command
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and ".venv" in ignored and ".env" in ignored


def test_compose_services_ports_commands_and_files() -> None:
    doc = compose()
    services = doc["services"]
    assert set(services) == {"sandbox", "supervisor", "prometheus", "alertmanager", "alert-log", "grafana"}
    for name, service in services.items():
        assert service.get("init") is True, name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"
            else:
                assert source in doc["volumes"], f"{name}: named volume {source} undeclared"
    parser = build_parser()
    sandbox = parser.parse_args(services["sandbox"]["command"])
    assert (sandbox.host, sandbox.port) == ("0.0.0.0", 18777)
    assert services["sandbox"]["ports"] == [f"127.0.0.1:{sandbox.port}:{sandbox.port}"]
    daemon = services["supervisor"]
    run = parser.parse_args(daemon["command"])
    mounted = {v.split(":")[1]: v.split(":")[0] for v in daemon["volumes"]}
    config_file = ROOT / mounted[run.config]
    env = {k: str(v) for k, v in daemon["environment"].items()} | {
        "KITE_ALGO_WORKER_TOKEN": "kwa_" + "x" * 43
    }
    config, _ = parse_config(config_file.read_text(), file=str(config_file), environ=env)
    assert config.backend.base_url == f"http://sandbox:{sandbox.port}"
    http = config.supervisor.http
    assert http.host == "0.0.0.0" and daemon["ports"] == [f"127.0.0.1:{http.port}:{http.port}"]
    # stop budget: grace + every release + margin
    grace = int(str(daemon["stop_grace_period"]).removesuffix("s"))
    assert grace >= config.supervisor.shutdown_grace_s + config.supervisor.release_timeout_s + 10
    assert daemon["depends_on"]["sandbox"]["condition"] == "service_healthy"
    # Prometheus scrapes the daemon's service name and port, and loads the rules
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"supervisor:{http.port}"]
    assert prom["rule_files"][0].split()[0] == "alerts.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    # Prometheus sends its alerts to the Alertmanager service, which posts them to alert-log
    am_port = services["alertmanager"]["ports"][0].rsplit(":", 1)[1]
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [f"alertmanager:{am_port}"]
    assert f"--web.listen-address=0.0.0.0:{am_port}" in services["alertmanager"]["command"]
    am = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    hook = am["receivers"][0]["webhook_configs"][0]["url"]
    assert hook == f"http://alert-log:{services['alert-log']['entrypoint'][-1]}/alerts"


def test_grafana_provisioning_points_at_the_dashboard_and_datasource() -> None:
    doc = compose()
    grafana = doc["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/kite-supervisor.yml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert path in mounts and (ROOT / mounts[path] / "kite-supervisor.json").exists()
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/kite-supervisor.json").read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p}
    assert uids == {ds["datasources"][0]["uid"]}


def test_dashboard_rows_and_only_catalogued_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/kite-supervisor.json").read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Fleet", "Per strategy", "Feeds", "Backend API", "Process"]
    known = exposed_names()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    used: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            names = referenced_names(target["expr"])
            assert names, target["expr"]
            # scrape jobs are named by whoever deploys (a static job, pod annotations, shards):
            # our targets are found by our own metrics, never by a job name
            assert "job=" not in target["expr"], f"{panel['title']}: {target['expr']}"
            assert not names - known, f"{panel['title']}: {names - known}"
            used |= names
    for variable in dashboard["templating"]["list"]:
        assert not referenced_names(variable["definition"]) - known
    # every family in the catalogue is on the dashboard (except bookkeeping gauges)
    shown = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    catalogued = {re.sub(r"_(bucket|sum|count)$", "", n) for n in known if n.startswith("kite_supervisor_")}
    assert catalogued - shown == {"kite_supervisor_up", "kite_supervisor_shutting_down"}


def test_the_state_table_reads_the_present_and_alerts_name_no_scrape_job() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/kite-supervisor.json").read_text())
    table = next(p for p in dashboard["panels"] if p["title"] == "State")
    assert all(t["instant"] and not t["range"] and t["format"] == "table" for t in table["targets"])
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert "job=" not in rule["expr"], rule["alert"]


def test_every_stat_panel_sets_its_own_thresholds() -> None:
    # without them Grafana applies its default (green, red from 80): 80 running strategies or 80 s
    # of uptime would turn red, while a quarantined strategy (1) would stay green
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/kite-supervisor.json").read_text())
    colors = {}
    for panel in dashboard["panels"]:
        if panel["type"] == "stat":
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            assert steps[0]["value"] is None and all(s["value"] is not None for s in steps[1:]), panel[
                "title"
            ]
            colors[panel["title"]] = [(s["value"], s["color"]) for s in steps]
    assert colors["Quarantined"] == [(None, "green"), (1, "red")]
    assert colors["Daemons up"] == colors["Ready"] == [(None, "red"), (1, "green")]


def test_readme_catalogue_matches_the_code() -> None:
    from supervisor._metrics import CATALOGUE, PREFIX

    readme = (ROOT / "deploy" / "README.md").read_text()
    rows = re.findall(r"^\| `(kite_supervisor_[a-z_]+)` \| (\w+) \| ([^|]+) \|", readme, flags=re.MULTILINE)
    expected = [(f"{PREFIX}_{n}", k, ", ".join(labels) or "-") for n, k, _, labels in CATALOGUE]
    assert [(n, k, lab.strip()) for n, k, lab in rows] == expected
    for section in (
        "## Local",
        "## systemd",
        "## docker compose",
        "## Kubernetes",
        "### Surviving a machine loss",
    ):
        assert section in readme
