"""Every kustomize overlay renders, validates against the Kubernetes schemas offline, and keeps the rules."""

from __future__ import annotations

import copy
import re
from functools import cache
from ipaddress import ip_address

import jsonschema
import kubernetes_validate
import pytest

from deploy import strimzi
from schemas.urlguard import forbidden_reason
from tests.deploy import k8s_invariants as rules
from tests.deploy.manifests import CRD_SCHEMAS, K8S_DIR, KAFKA_TRIGGER_KEYS, OVERLAYS, Obj, by_name, render

# The oldest Kubernetes these manifests need (preStop `sleep`, matchLabelKeys) and the newest schemas shipped.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


@cache
def rendered(overlay: str) -> tuple[Obj, ...]:
    return tuple(render(K8S_DIR / "overlays" / overlay))


@cache
def rendered_topics(overlay: str) -> tuple[Obj, ...]:
    return tuple(render(K8S_DIR / "overlays" / overlay / "kafka-topics"))


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_against_the_schemas(overlay: str, version: str) -> None:
    objects = [*rendered(overlay), *rendered_topics(overlay)]
    kinds = {obj["kind"] for obj in objects}
    assert {"Deployment", "Job", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy", "ScaledObject",
            "KafkaTopic", "Namespace", "Service", "ServiceAccount"} <= kinds
    for obj in objects:
        if obj["kind"] in CRD_SCHEMAS:
            jsonschema.validate(obj, CRD_SCHEMAS[obj["kind"]])
        else:
            kubernetes_validate.validate(obj, version, strict=True)
    for scaled in (o for o in objects if o["kind"] == "ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            assert set(trigger["metadata"]) <= KAFKA_TRIGGER_KEYS
        # KEDA hands `behavior` to the HPA it creates: it must be a valid HPA behavior.
        behavior = scaled["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
        hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "hpa"},
               "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 1,
                        "behavior": behavior}}
        kubernetes_validate.validate(hpa, version, strict=True)


def test_the_validator_rejects_an_unknown_field() -> None:
    """The strict validation above is not vacuous: a misspelt field fails."""
    deployment = copy.deepcopy(by_name(list(rendered("dev")), "Deployment")["callapi-api"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("check", rules.ALL_CHECKS, ids=lambda check: check.__name__)
def test_overlay_keeps_the_rules(overlay: str, check: rules.Check) -> None:
    assert check(list(rendered(overlay))) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_equal_the_code(overlay: str) -> None:
    topics = list(rendered_topics(overlay))
    assert {t["metadata"]["labels"]["strimzi.io/cluster"] for t in topics} == {"my-cluster"}
    assert rules.check_topics(list(rendered(overlay)), topics) == []


def test_committed_kafka_topics_are_what_the_code_generates() -> None:
    assert strimzi.overlays() == sorted(OVERLAYS)
    assert strimzi.main(["--check"]) == 0, "run `python -m deploy.strimzi` and commit the result"


def test_generated_topics_ignore_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    before = strimzi.generated("prod")
    monkeypatch.setenv("CALLAPI_PARTITIONS", "3")
    monkeypatch.setenv("CALLAPI_TOPIC_PREFIX", "elsewhere.")
    assert strimzi.generated("prod") == before


def test_prod_replicates_topics_three_times_and_dev_once() -> None:
    assert {t["spec"]["replicas"] for t in rendered_topics("prod")} == {3}
    assert {t["spec"]["replicas"] for t in rendered_topics("dev")} == {1}


def _cpu(quantity: str | int) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


@pytest.mark.parametrize("name", ["callapi-ingest", "callapi-processor", "callapi-delivery"])
def test_prod_gives_the_hot_path_more_cpu(name: str) -> None:
    """Every stage an event passes through gets at least half a core requested in production."""
    assert _cpu(_container(list(rendered("prod")), name)["resources"]["requests"]["cpu"]) >= 0.5


def test_prod_spreads_every_component_that_runs_several_pods_over_nodes() -> None:
    """A component of several pods (replicas, or KEDA's minimum) keeps serving when one node goes."""
    objects = list(rendered("prod"))
    minimum = {obj["spec"]["scaleTargetRef"]["name"]: obj["spec"]["minReplicaCount"]
               for obj in by_name(objects, "ScaledObject").values()}
    for name, deployment in by_name(objects, "Deployment").items():
        if max(deployment["spec"].get("replicas", 1), minimum.get(name, 1)) > 1:
            spread = deployment["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
            assert "kubernetes.io/hostname" in {c["topologyKey"] for c in spread}, name


def _broken(mutate: rules.Mutation) -> list[str]:
    objects = copy.deepcopy(list(rendered("prod")))
    mutate(objects)
    return [problem for check in rules.ALL_CHECKS for problem in check(objects)]


def _deployment(objects: list[Obj], name: str) -> Obj:
    return by_name(objects, "Deployment")[name]


def _container(objects: list[Obj], name: str) -> Obj:
    container: Obj = _deployment(objects, name)["spec"]["template"]["spec"]["containers"][0]
    return container


MUTATIONS: dict[str, tuple[rules.Mutation, str]] = {
    "no readiness probe": (lambda o: _container(o, "callapi-api").pop("readinessProbe"), "readinessProbe"),
    "no memory limit": (lambda o: _container(o, "callapi-sink")["resources"]["limits"].pop("memory"),
                        "limits.memory"),
    "root user": (lambda o: _deployment(o, "callapi-relay")["spec"]["template"]["spec"]["securityContext"].update(
        runAsUser=0), "as root"),
    "writable root": (lambda o: _container(o, "callapi-delivery")["securityContext"].update(
        readOnlyRootFilesystem=False), "writable"),
    "too many replicas": (lambda o: _deployment(o, "callapi-sink")["spec"].update(replicas=99), "partitions"),
    "scaled past partitions": (lambda o: next(x for x in o if x["kind"] == "ScaledObject")["spec"].update(
        maxReplicaCount=13), "exceed"),
    "short grace": (lambda o: _deployment(o, "callapi-delivery")["spec"]["template"]["spec"].update(
        terminationGracePeriodSeconds=5), "terminationGracePeriodSeconds"),
    "private range open": (lambda o: next(x for x in o if x["metadata"]["name"] == "callapi-delivery-internet")[
        "spec"]["egress"][0]["to"][0]["ipBlock"]["except"].remove("169.254.0.0/16"), "169.254.169.254"),
    "6to4 open": (lambda o: next(x for x in o if x["metadata"]["name"] == "callapi-delivery-internet")[
        "spec"]["egress"][0]["to"][1]["ipBlock"]["except"].remove("2002::/16"), "2002:a01:203::1"),
    "impatient readiness probe": (lambda o: _container(o, "callapi-ingest")["readinessProbe"].update(timeoutSeconds=1),
                                  "its check's own bound"),
    "IPv4-only listener": (lambda o: _container(o, "callapi-lag-exporter")["args"].__setitem__(2, "0.0.0.0"),
                           "IPv6"),
    "relay in every API pod": (lambda o: _container(o, "callapi-api")["args"].remove("--no-relay"), "outbox relay"),
    "typo in a setting": (lambda o: rules.settings_data(o).update(CALLAPI_PARTITONS="24"), "no setting"),
    "delivery without the database": (lambda o: _container(o, "callapi-delivery").pop("env"), "reads the database"),
    "replicas on a scaled Deployment": (lambda o: _deployment(o, "callapi-processor")["spec"].update(replicas=2),
                                        "sets spec.replicas"),
    "unhealthy pods block drains": (lambda o: by_name(o, "PodDisruptionBudget")["callapi-processor"]["spec"].pop(
        "unhealthyPodEvictionPolicy"), "block drains"),
    "processor scales up on a burst": (lambda o: by_name(o, "ScaledObject")["callapi-processor"]["spec"]["advanced"][
        "horizontalPodAutoscalerConfig"]["behavior"].pop("scaleUp", None), "scales up on lag shorter"),
    "another consumer group": (lambda o: next(x for x in o if x["kind"] == "ScaledObject")["spec"]["triggers"][0][
        "metadata"].update(consumerGroup="callapi.processors"), "consumer group"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_the_rules_catch_a_broken_overlay(name: str) -> None:
    mutate, expected = MUTATIONS[name]
    problems = _broken(mutate)
    assert any(expected in problem for problem in problems), problems


def test_the_deployment_guide_names_what_the_manifests_define() -> None:
    guide = (K8S_DIR.parents[1] / "README.md").read_text()
    objects = list(rendered("dev"))
    for name in set(re.findall(r"deploy/(callapi-[a-z-]+)", guide)):
        assert name in by_name(objects, "Deployment"), name
    for name in set(re.findall(r"job/(callapi-[a-z-]+)", guide)):
        assert name in by_name(objects, "Job"), name
    (secret,) = set(re.findall(r"create secret generic (\S+)", guide))
    refs = {(env["valueFrom"]["secretKeyRef"]["name"], env["valueFrom"]["secretKeyRef"]["key"])
            for obj in objects if obj["kind"] in {"Deployment", "Job"}
            for env in obj["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    assert refs == {(secret, "url")}
    assert "--from-literal=url=" in guide
    for path in re.findall(r"`(deploy/[\w./-]+)`", guide):
        assert (K8S_DIR.parents[1] / path).exists(), path


def test_the_network_samples_are_what_the_url_guard_refuses_and_allows() -> None:
    """The delivery NetworkPolicy is a second wall behind the URL guard: its samples are the guard's own verdicts."""
    assert all(forbidden_reason(ip_address(ip)) for ip in rules.PRIVATE_SAMPLES)
    assert not any(forbidden_reason(ip_address(ip)) for ip in rules.PUBLIC_SAMPLES)
