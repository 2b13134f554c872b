"""Render the kustomize overlays for real and check what Kubernetes would receive.

`kubectl kustomize` (or a standalone `kustomize build`) renders; the built-in kinds are validated with
the schemas that the `kubernetes-validate` package ships (offline); the two custom resources we use
(Strimzi KafkaTopic, KEDA ScaledObject) against the subset schemas below, written from their
documented fields, strict about unknown fields so a typo fails.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
Obj = dict[str, Any]

_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_META = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}, "labels": _STR_MAP,
                   "annotations": _STR_MAP},
}
KAFKA_TOPIC_SCHEMA: Obj = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1"},
        "kind": {"const": "KafkaTopic"},
        "metadata": {**_META, "required": ["name", "labels"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["partitions", "replicas"],
            "properties": {
                "topicName": {"type": "string", "minLength": 1},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}},
            },
        },
    },
}
SCALED_OBJECT_SCHEMA: Obj = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": _META,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object", "additionalProperties": False, "required": ["name"],
                    "properties": {"name": {"type": "string"}, "apiVersion": {"type": "string"},
                                   "kind": {"type": "string"}, "envSourceContainerName": {"type": "string"}},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"restoreToOriginalReplicaCount": {"type": "boolean"},
                                   "horizontalPodAutoscalerConfig": {
                                       "type": "object", "additionalProperties": False,
                                       "properties": {"name": {"type": "string"}, "behavior": {"type": "object"}}}},
                },
                "triggers": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["type", "metadata"],
                    "properties": {"type": {"type": "string"}, "name": {"type": "string"},
                                   "metadata": _STR_MAP, "metricType": {"enum": ["AverageValue", "Value"]},
                                   "authenticationRef": {"type": "object"}}}},
            },
        },
    },
}
# Documented parameters of KEDA's kafka scaler that these manifests may use.
KAFKA_TRIGGER_KEYS = {
    "bootstrapServers", "bootstrapServersFromEnv", "consumerGroup", "consumerGroupFromEnv", "topic",
    "topicFromEnv", "lagThreshold", "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers",
    "excludePersistentLag", "scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag", "version", "sasl", "tls",
}
CRD_SCHEMAS = {"KafkaTopic": KAFKA_TOPIC_SCHEMA, "ScaledObject": SCALED_OBJECT_SCHEMA}


def kustomize_command() -> list[str]:
    """`kubectl kustomize` when kubectl is installed, else a standalone `kustomize build`."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    for candidate in (shutil.which("kustomize"), str(Path.home() / "go" / "bin" / "kustomize")):
        if candidate and Path(candidate).exists():
            return [candidate, "build"]
    raise RuntimeError("neither kubectl nor kustomize is installed: install kubectl, or "
                       "`go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0`")


def render(directory: Path) -> list[Obj]:
    result = subprocess.run([*kustomize_command(), str(directory)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"kustomize failed on {directory}:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def tool(name: str) -> str:
    """A tool installed beside this Python (the venv's bin) or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise AssertionError(f"{name} is not installed (see the README's Development section)")
    return found


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run Debian's promtool, e.g. `promtool("check", "metrics", stdin=scraped_text)`; returncode 0 is clean."""
    return subprocess.run([tool("promtool"), *args], input=stdin, capture_output=True, text=True, check=False)


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def by_name(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {obj["metadata"]["name"]: obj for obj in of_kind(objects, kind)}


def pod_spec(workload: Obj) -> Obj:
    spec: Obj = workload["spec"]["template"]["spec"]
    return spec


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def egress_allows_ip(policies: list[Obj], pod_labels: dict[str, str], ip: str) -> bool:
    """Would an address outside the cluster be reachable from a pod with these labels?

    Without any egress policy selecting the pod, everything is allowed (Kubernetes semantics); otherwise an
    address is allowed only by an ipBlock containing it and not excepting it.
    """
    address = ipaddress.ip_address(ip)
    selecting = [p for p in policies if "Egress" in p["spec"].get("policyTypes", [])
                 and selects(p["spec"]["podSelector"], pod_labels)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("egress", []):
            for peer in rule.get("to", []):
                block = peer.get("ipBlock")
                if block is None:
                    continue
                network = ipaddress.ip_network(block["cidr"])
                if network.version != address.version or address not in network:
                    continue
                if not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
                           if ipaddress.ip_network(cidr).version == address.version):
                    return True
    return False
