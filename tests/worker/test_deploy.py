"""The Kubernetes manifests in worker/deploy: parsed and cross-checked against the code.

``kubectl apply --dry-run=client`` needs a reachable API server (it downloads the OpenAPI
schema), which CI does not have; these checks stand in for it: every manifest parses, has the
fields its kind requires, and agrees with the worker (probe paths are real routes, ports
match, the ConfigMap is a valid configuration). ``kubectl kustomize`` runs offline and must
build the whole set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO
from worker.config import load_settings
from worker.health.endpoints import PROBE_ROUTES

DEPLOY = REPO / "worker" / "deploy"
KINDS = {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
         "PodDisruptionBudget", "PodMonitoring"}


def manifests() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["apiVersion"] and doc["metadata"]["name"], path
            out[doc["kind"]] = doc
    return out


@pytest.fixture(scope="module")
def objs() -> dict[str, dict[str, Any]]:
    return manifests()


def container(objs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (c,) = objs["Deployment"]["spec"]["template"]["spec"]["containers"]
    return c


def test_every_kind_is_there(objs: dict[str, dict[str, Any]]) -> None:
    assert set(objs) == KINDS


def test_probes_hit_real_endpoints_on_the_health_port(objs: dict[str, dict[str, Any]]) -> None:
    c = container(objs)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["health"] == int(objs["ConfigMap"]["data"]["HEALTH_PORT"]) == 8080
    # One port: Prometheus scrapes /metrics where the probes are (the worker serves both).
    assert set(ports) == {"health"}
    assert objs["PodMonitoring"]["spec"]["endpoints"][0]["port"] == "health"
    annotations = objs["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["health"]
    assert "/metrics" in PROBE_ROUTES
    assert c["livenessProbe"]["httpGet"]["path"] == "/ping"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/basic"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["path"] in PROBE_ROUTES  # on the probe port, not /debug
        assert c[probe]["httpGet"]["port"] in ports


def test_deployment_fields(objs: dict[str, dict[str, Any]]) -> None:
    dep = objs["Deployment"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    c = container(objs)
    assert c["image"] and c["resources"]["requests"]["cpu"] and c["resources"]["limits"]
    # The warm shutdown must be able to outlast the longest task.
    grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > float(objs["ConfigMap"]["data"]["TASK_TIME_LIMIT"])
    entry = c["command"][0]
    assert entry.startswith("/app/")
    script = REPO / entry.removeprefix("/app/")
    assert script.is_file() and os.access(script, os.X_OK)
    secret_env = {e["name"] for e in c["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert secret_env == {"BROKER_URL", "CELERY_RESULT_BACKEND"}


def test_service_hpa_pdb_and_podmonitoring_point_at_the_deployment(
        objs: dict[str, dict[str, Any]]) -> None:
    labels = objs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"] for p in container(objs)["ports"]}
    svc = objs["Service"]["spec"]
    assert svc["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in svc["ports"]} <= port_names
    assert 8080 in {p["port"] for p in svc["ports"]}
    target = objs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    name = objs["Deployment"]["metadata"]["name"]
    assert (target["kind"], target["name"]) == ("Deployment", name)
    assert objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pm = objs["PodMonitoring"]["spec"]
    assert pm["selector"]["matchLabels"].items() <= labels.items()
    assert {e["port"] for e in pm["endpoints"]} <= port_names


def test_configmap_is_a_valid_worker_configuration(objs: dict[str, dict[str, Any]],
                                                   tmp_path: Path) -> None:
    ca = tmp_path / "server-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {**objs["ConfigMap"]["data"], "REDIS_SSL_CA_CERTS": str(ca),
           "BROKER_URL": "rediss://:pw@10.0.0.3:6378/0",
           "CELERY_RESULT_BACKEND": "rediss://:pw@10.0.0.3:6378/1"}
    settings = load_settings(env)
    assert settings.broker_tls and settings.visibility_timeout > settings.longest_countdown


def test_kustomize_builds_the_set() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the YAML checks above still ran)")
    out = subprocess.run([kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(out.stdout)}
    assert kinds == KINDS
