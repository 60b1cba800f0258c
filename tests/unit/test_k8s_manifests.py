"""The Kubernetes manifests in deploy/k8s validate offline against the API schemas and run the API safely."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
# Oldest Kubernetes minor we claim to support, and the newest the validator ships schemas for.
K8S_VERSIONS = ("1.29", kubernetes_validate.latest_version())
SERVICE_PORT = 3000
API_KEY_SECRET = "credit-scoring-api-key"

Doc = dict[str, Any]


def _load(path: Path) -> list[Doc]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


ALL_FILES = sorted(K8S_DIR.rglob("*.yaml"))
# `kubectl apply -f deploy/k8s` is not recursive: only the top-level files are applied.
APPLIED_FILES = sorted(K8S_DIR.glob("*.yaml"))
ALL_DOCS = [(path, doc) for path in ALL_FILES for doc in _load(path)]
APPLIED_DOCS = [doc for path in APPLIED_FILES for doc in _load(path)]


def _one(kind: str, docs: list[Doc] = APPLIED_DOCS) -> Doc:
    found = [doc for doc in docs if doc.get("kind") == kind]
    assert len(found) == 1, f"expected exactly one {kind}, found {len(found)}"
    return found[0]


def _api_container() -> Doc:
    containers = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _container_port(container: Doc, port: int | str) -> int:
    """Resolve a probe or Service port (number or name) to the container's port number."""
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    assert port in by_name, f"port name {port!r} is not declared by the container"
    return by_name[port]


_UNITS = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _quantity(value: str | int | float) -> float:
    match = re.fullmatch(r"([0-9.]+)(m|k|M|G|Ki|Mi|Gi)?", str(value))
    assert match, f"unparsable quantity {value!r}"
    return float(match.group(1)) * _UNITS[match.group(2) or ""]


def test_manifest_files_exist() -> None:
    names = {path.name for path in APPLIED_FILES}
    assert {"deployment.yaml", "service.yaml", "hpa.yaml"} <= names
    assert len(ALL_DOCS) >= 4


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    ("path", "doc"), ALL_DOCS, ids=[f"{p.relative_to(K8S_DIR)}:{d.get('kind')}" for p, d in ALL_DOCS]
)
def test_document_validates_against_kubernetes_schema(path: Path, doc: Doc, version: str) -> None:
    # strict: unknown fields (typos such as `readinesProbe`) are errors, as the API server would reject them.
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    "breakage",
    ["port_as_text", "unknown_field", "missing_container_name", "missing_selector"],
)
def test_validator_rejects_a_broken_deployment(breakage: str) -> None:
    broken = copy.deepcopy(_one("Deployment"))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    if breakage == "port_as_text":
        container["ports"][0]["containerPort"] = "three thousand"
    elif breakage == "unknown_field":
        container["readinesProbe"] = container["readinessProbe"]
    elif breakage == "missing_container_name":
        del container["name"]
    else:
        del broken["spec"]["selector"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


def test_applied_set_has_the_workload_objects_and_no_secret() -> None:
    kinds = sorted(doc["kind"] for doc in APPLIED_DOCS)
    assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= set(kinds)
    # The Secret template must not be applied with the rest, or it would overwrite the real key.
    assert "Secret" not in kinds


def test_probes_hit_livez_and_readyz_on_the_service_port() -> None:
    container = _api_container()
    assert _container_port(container, "http") == SERVICE_PORT
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/livez"}
    for probe_name, path in expected.items():
        probe = container.get(probe_name)
        assert probe, f"{probe_name} missing"
        assert probe["httpGet"]["path"] == path
        assert _container_port(container, probe["httpGet"]["port"]) == SERVICE_PORT
    startup = container.get("startupProbe")
    if startup:
        assert startup["httpGet"]["path"] == "/livez"


def test_resource_requests_and_limits_are_set_and_consistent() -> None:
    resources = _api_container()["resources"]
    for resource in ("cpu", "memory"):
        request = _quantity(resources["requests"][resource])
        limit = _quantity(resources["limits"][resource])
        assert 0 < request <= limit, f"{resource}: request {request} must be positive and <= limit {limit}"


def test_api_key_comes_from_a_secret_key_ref() -> None:
    env = {item["name"]: item for item in _api_container()["env"]}
    api_key = env["CREDIT_API_KEY"]
    assert "value" not in api_key, "the API key must never be written in the manifest"
    ref = api_key["valueFrom"]["secretKeyRef"]
    assert ref["name"] == API_KEY_SECRET
    assert not ref.get("optional", False), "a missing API key Secret must stop the pod, not open the API"
    store = env["CREDIT_REQUEST_STORE_URL"]
    assert "value" not in store
    assert store["valueFrom"]["secretKeyRef"]["name"]


def test_secret_template_covers_every_referenced_key_with_placeholders_only() -> None:
    secrets = {doc["metadata"]["name"]: doc for _, doc in ALL_DOCS if doc["kind"] == "Secret"}
    for item in _api_container()["env"]:
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] in secrets, f"no template for Secret {ref['name']}"
            assert ref["key"] in secrets[ref["name"]].get("stringData", {})
    for secret in secrets.values():
        assert "data" not in secret, "templates use stringData placeholders, never encoded values"
        for key, value in secret["stringData"].items():
            name = secret["metadata"]["name"]
            assert value.startswith("REPLACE_ME"), f"{name}/{key} holds a real-looking value"


def test_runs_as_non_root_without_privilege_escalation() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    container = _api_container()["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]


def test_deployment_selector_matches_its_pods() -> None:
    deployment = _one("Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    # The HPA owns the replica count: a fixed one would be reset by every apply.
    assert "replicas" not in deployment["spec"]


def test_service_routes_to_the_api_port() -> None:
    service = _one("Service")
    labels = _one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert _container_port(_api_container(), port["targetPort"]) == SERVICE_PORT


def test_hpa_scales_the_deployment_on_cpu() -> None:
    hpa = _one("HorizontalPodAutoscaler")
    deployment = _one("Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        deployment["metadata"]["name"],
    )
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
