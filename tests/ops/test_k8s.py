"""Kubernetes manifests: structure and cross-references (no cluster here; see deploy/README.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from supervisor._config import parse_config
from supervisor._shard import shard_from_env

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def documents() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), name
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in out, key
            out[key] = doc
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    return out


def test_statefulset_probes_volumes_secret_config_and_service() -> None:
    docs = documents()
    sts = docs[("StatefulSet", "kite-supervisor")]
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert sts["spec"]["serviceName"] in {name for kind, name in docs if kind == "Service"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    secret_ref = env["KITE_ALGO_WORKER_TOKEN"]["valueFrom"]["secretKeyRef"]
    # the Secret is made out of band, never applied with the rest (it would overwrite the token)
    assert not any(kind == "Secret" for kind, _ in docs)
    secret = yaml.safe_load((K8S / "examples" / "secret.yaml").read_text())
    assert secret["metadata"]["name"] == secret_ref["name"] and secret_ref["key"] in secret["stringData"]
    config_volume = next(v for v in pod["volumes"] if v["name"] == "config")
    configmap = docs[("ConfigMap", config_volume["configMap"]["name"])]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config_path = container["args"][container["args"].index("--config") + 1]
    assert config_path == f"{mounts['config']}/config.yaml"
    environ = {
        "KITE_ALGO_API_BASE": env["KITE_ALGO_API_BASE"]["value"],
        "KITE_ALGO_WORKER_TOKEN": "kwa_" + "x" * 43,
    }
    config, _ = parse_config(configmap["data"]["config.yaml"], file="configmap.yaml", environ=environ)
    settings = config.supervisor
    assert settings.state_dir == mounts["state"]
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["state"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert settings.http.host == "0.0.0.0" and settings.http.port == port
    metrics = docs[("Service", "kite-supervisor-metrics")]
    assert metrics["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert metrics["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
    assert pod["terminationGracePeriodSeconds"] >= settings.shutdown_grace_s + settings.release_timeout_s + 10


def test_every_strategy_has_a_driver_and_a_standby_on_distinct_pods() -> None:
    docs = documents()
    sts = docs[("StatefulSet", "kite-supervisor")]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    count = env["SUPERVISOR_SHARD_COUNT"]["value"]
    replicas = sts["spec"]["replicas"]
    assert replicas == 2 * int(count)
    configmap = docs[("ConfigMap", "kite-supervisor-config")]
    names = [s["name"] for s in yaml.safe_load(configmap["data"]["config.yaml"])["strategies"]]
    hosted: Counter[str] = Counter()
    for ordinal in range(replicas):
        # what the pod sees: the downward-API index, or only its name on Kubernetes < 1.28
        for environ in (
            {"SUPERVISOR_SHARD_COUNT": count, "SUPERVISOR_SHARD_INDEX": str(ordinal)},
            {"SUPERVISOR_SHARD_COUNT": count, "POD_NAME": f"kite-supervisor-{ordinal}"},
        ):
            shard = shard_from_env(environ)
            assert shard is not None and shard.index == ordinal % int(count)
        assert shard is not None
        hosted.update(shard.select(names, str))
    assert hosted == Counter(dict.fromkeys(names, 2))
    anti = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert (
        anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == "kubernetes.io/hostname"
    )
    assert docs[("PodDisruptionBudget", "kite-supervisor")]["spec"]["maxUnavailable"] == 1
