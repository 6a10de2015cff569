"""The shipped deployment files: Dockerfile, Compose file and Kubernetes manifests.

Each is checked by a validator from a registry package (hadolint, the Compose
specification's JSON schema, the Kubernetes OpenAPI schemas in strict mode), and the
pieces that must agree with each other (the ConfigMap and deploy/vallum.yaml, probes and
routes, Service selectors and pod labels, the image's user and the pod's) are compared.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
BIN = Path(sys.executable).parent


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    found = []
    for name in kustomization["resources"]:
        for doc in _documents(K8S / name):
            found.append((name, doc))
    return found


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:  # both are in the dev extra; `make test` installs them
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def _by_kind(kind: str) -> dict[str, Any]:
    matches = [doc for _, doc in _manifests() if doc["kind"] == kind]
    assert len(matches) == 1, kind
    return matches[0]


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_a_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert "USER 10001:10001" in final_stage
    assert "HEALTHCHECK" in final_stage and "/healthz" in final_stage
    assert text.count("\nFROM ") >= 2, "multi-stage: the build tools stay out of the image"


def test_dockerignore_keeps_secrets_and_state_out_of_the_build_context() -> None:
    lines = [
        line for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] not in "#"
    ]
    assert lines[0] == "*", "deny by default, then allow what the build needs"
    assert "!src/" in lines and "!deploy/vallum.yaml" in lines


@pytest.mark.parametrize("name", ["compose.yaml"])
def test_compose_file_matches_the_compose_specification(name: str) -> None:
    result = subprocess.run(
        [
            _tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEPLOY / "compose" / name),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_load_balancer_is_the_only_trusted_proxy() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    lb_address = services["lb"]["networks"]["vallum"]["ipv4_address"]
    replicas = [name for name in services if name.startswith("vallum-")]
    assert len(replicas) == 3
    for name in replicas:
        env = services[name]["environment"]
        assert env["VALLUM_TRUSTED_PROXY"] == f"{lb_address}/32"
        assert env["VALLUM_INSTANCE_ID"] == name
        assert "ports" not in services[name], "replicas are reached through the balancer only"
    nginx = (DEPLOY / "compose" / "nginx.conf").read_text()
    assert all(f"server {name}:8080" in nginx for name in replicas)


@pytest.mark.parametrize("name", ["kustomization-listed", "secret.example.yaml"])
def test_kubernetes_manifests_validate_strictly(name: str) -> None:
    docs = (
        [(n, d) for n, d in _manifests() if d["apiVersion"] != "monitoring.coreos.com/v1"]
        if name == "kustomization-listed"
        else [(name, doc) for doc in _documents(K8S / name)]
    )
    assert docs
    for file_name, doc in docs:
        try:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError as error:  # pragma: no cover - the failure
            pytest.fail(f"{file_name}: {error.message} at {list(error.path)}")


def test_every_manifest_file_is_listed_in_the_kustomization() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == present


def test_configmap_holds_deploy_vallum_yaml_verbatim() -> None:
    configmap = _by_kind("ConfigMap")
    assert configmap["data"]["vallum.yaml"] == (DEPLOY / "vallum.yaml").read_text()


def test_probes_point_at_the_health_routes_and_the_pod_runs_as_the_image_user() -> None:
    pod = _by_kind("Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/var/lib/vallum/spool" in mounts, "the audit spool lives on a volume"


def test_secrets_come_from_secret_objects_never_literals() -> None:
    container = _by_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]
    for item in container["env"]:
        if any(word in item["name"] for word in ("TOKEN", "KEY", "URL")) and not item[
            "name"
        ].endswith("_FILE"):
            assert "secretKeyRef" in item.get("valueFrom", {}), item["name"]


def test_services_pdb_hpa_and_monitor_select_the_gateway_pods() -> None:
    labels = _by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    services = [doc for _, doc in _manifests() if doc["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == {"vallum", "vallum-admin"}
    for service in services:
        assert service["spec"]["selector"].items() <= labels.items()
    pdb = _by_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = _by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == _by_kind("Deployment")["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2, "one replica left by a disruption still serves"
    monitor = _by_kind("ServiceMonitor")
    admin = next(s for s in services if s["metadata"]["name"] == "vallum-admin")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= admin["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == admin["spec"]["ports"][0]["name"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
