"""The rules every rendered overlay must keep. Each check returns the problems it found (empty: fine)."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

from control.api.routes_ops import PROBE_TIMEOUT_S as API_CHECK_S
from control.sink import group_id as sink_group
from delivery.worker import group_id as delivery_group
from deploy.strimzi import topic_settings
from processors.topology import app_id as processor_group
from producers.ingest.server import drain_s as ingest_drain_s
from schemas.settings import Settings
from tests.deploy.manifests import Obj, by_name, egress_allows_ip, of_kind, pod_spec, selects

Check = Callable[[list[Obj]], list[str]]
Mutation = Callable[[list[Obj]], object]

COMPONENTS = {  # Deployment name → the component's command
    "callapi-api": "api", "callapi-ingest": "ingest", "callapi-relay": "relay",
    "callapi-processor": "processor", "callapi-delivery": "deliver", "callapi-sink": "sink",
    "callapi-lag-exporter": "lag-exporter",
}
JOBS = {"callapi-migrate": ["db", "migrate"], "callapi-topics": ["topics", "create"]}
CONSUMERS = ("callapi-processor", "callapi-delivery", "callapi-sink")
ROOT = Path(__file__).resolve().parents[2]
# The code each workload runs (its command's module, or package): whether it reads the database is taken from it.
SOURCES = {
    "callapi-api": "control/api/app.py", "callapi-ingest": "producers/ingest/server.py",
    "callapi-relay": "control/relay.py", "callapi-sink": "control/sink.py", "callapi-processor": "processors",
    "callapi-delivery": "delivery/worker.py", "callapi-lag-exporter": "deploy/lag.py",
    "callapi-migrate": "control/migrate.py", "callapi-topics": "deploy/topics.py",
}
OPERATOR_TOOLS = {"processors/replay.py", "processors/replay_cli.py", "processors/replay_check_db.py",
                  "processors/dlq_cli.py", "processors/event_letters.py"}
"""Commands an operator runs from a shell, not code of the Deployment whose package holds them."""
# Each processor scale step rebalances its consumer group (every processor stops) and reloads the config table in
# the new pods: a burst of lag must last this long (4 KEDA polls of 15 s) before it adds pods.
PROCESSOR_SCALE_UP_WINDOW_S = 60
NOT_SETTINGS = {"CALLAPI_LOG_LEVEL", "CALLAPI_LOG_FORMAT"}  # read by the entry point, not by Settings
# Also the special-use ranges a cluster may give its pods and services (GKE takes 240.0.0.0/4, 198.18.0.0/15 and the
# documentation ranges as pod ranges), and through NAT64 (64:ff9b::/96 carries the IPv4 address in its last 32 bits;
# 64:ff9b:1::/48 is a network's own translators): in an IPv6 cluster with DNS64 the translator reaches the private
# IPv4 networks behind it. And each IPv4 sample's 6to4 form, which the URL guard refuses as the address it wraps.
PRIVATE_IPV4_SAMPLES = ("10.1.2.3", "172.20.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "192.0.0.1",
                        "192.0.2.1", "198.18.0.1", "198.51.100.1", "203.0.113.1", "240.0.0.1")


def six_to_four(ipv4: str) -> str:
    """The 6to4 address (2002:V4ADDR::/48, RFC 3056) a host behind `ipv4` may take: a relay unwraps it to `ipv4`."""
    return str(IPv6Address((0x2002 << 112) | (int(IPv4Address(ipv4)) << 80) | 1))


PRIVATE_SAMPLES = (*PRIVATE_IPV4_SAMPLES, *map(six_to_four, PRIVATE_IPV4_SAMPLES), "fd00::1",
                   "64:ff9b::a01:203", "64:ff9b::ac14:1", "64:ff9b::c0a8:101", "64:ff9b::a9fe:a9fe",
                   "64:ff9b::6440:1", "64:ff9b:1::5db8:d822")
PUBLIC_SAMPLES = ("93.184.216.34", "1.1.1.1", "2606:4700::1111", "64:ff9b::5db8:d822")


def settings_data(objects: list[Obj]) -> dict[str, str]:
    (config_map,) = [obj for obj in of_kind(objects, "ConfigMap") if obj["metadata"]["name"].startswith(
        "callapi-settings")]
    data: dict[str, str] = config_map["data"]
    return data


def overlay_settings(objects: list[Obj]) -> Settings:
    return topic_settings(settings_data(objects))


def check_settings(objects: list[Obj]) -> list[str]:
    data = settings_data(objects)
    fields = {f"CALLAPI_{name.upper()}" for name in Settings.model_fields}
    problems = [f"ConfigMap key {key} is no setting" for key in data if key not in fields | NOT_SETTINGS]
    if "CALLAPI_DATABASE_URL" in data:
        problems.append("CALLAPI_DATABASE_URL must come from the Secret, not the ConfigMap")
    values: dict[str, Any] = {key.removeprefix("CALLAPI_").lower(): value for key, value in data.items()
                              if key not in NOT_SETTINGS}
    try:
        Settings(**values)
    except ValueError as error:
        problems.append(f"ConfigMap settings are invalid: {error}")
    return problems


def check_container(where: str, pod: Obj, container: Obj) -> list[str]:
    problems = []
    resources = container.get("resources", {})
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(kind, {}):
                problems.append(f"{where}: no {kind}.{resource}")
    security = container.get("securityContext", {})
    pod_security = pod.get("securityContext", {})
    if not (pod_security.get("runAsNonRoot") and pod_security.get("runAsUser", 0) != 0):
        problems.append(f"{where}: pod may run as root")
    if security.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: root filesystem is writable")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: privilege escalation allowed")
    if security.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append(f"{where}: capabilities not all dropped")
    image = container["image"]
    pinned = image.startswith("callapi-events:") or "/callapi-events:" in image
    if not pinned or image.endswith(":latest"):
        problems.append(f"{where}: image {image} is not a pinned callapi-events tag")
    for env in container.get("env", []):
        if env["name"] == "CALLAPI_DATABASE_URL" and "secretKeyRef" not in env.get("valueFrom", {}):
            problems.append(f"{where}: CALLAPI_DATABASE_URL not from a Secret")
    if not any(ref.get("configMapRef", {}).get("name", "").startswith("callapi-settings")
               for ref in container.get("envFrom", [])):
        problems.append(f"{where}: settings ConfigMap not in envFrom")
    return problems


def check_probes(where: str, container: Obj) -> list[str]:
    ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
    problems = []
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ports:
            problems.append(f"{where}: {probe} is not GET {path} on a declared port")
    return problems


def check_host(where: str, container: Obj) -> list[str]:
    """Kubelet probes and Prometheus scrape the pod's IP, an IPv6 one on an IPv6-only or IPv6-first cluster: `::`
    listens on both families (and on IPv4 alone where the node has no IPv6)."""
    args = container.get("args", [])
    host = args[args.index("--host") + 1] if "--host" in args[:-1] else "127.0.0.1"
    return [] if host == "::" else [f"{where}: listens on {host}, which the IPv6 pod address does not reach"]


def readiness_bound_s(name: str, settings: Settings) -> float:
    """The longest a component's own /readyz check may take: the API asks Kafka to connect, then to describe
    the cluster, each bounded by API_CHECK_S (PostgreSQL beside them, bounded the same); the ingest bounds its
    metadata request by ingest_ready_timeout_s; the others answer from memory."""
    return {"callapi-api": 2 * API_CHECK_S, "callapi-ingest": settings.ingest_ready_timeout_s}.get(name, 0.0)


def check_readiness_timeout(where: str, container: Obj, settings: Settings) -> list[str]:
    """A probe that gives up before the check does fails a pod whose check was only slow, and its 503 (with the
    reason logged) never arrives."""
    timeout_s = container.get("readinessProbe", {}).get("timeoutSeconds", 1)
    bound_s = readiness_bound_s(where, settings)
    if timeout_s <= bound_s:
        return [f"{where}: readinessProbe timeoutSeconds {timeout_s} <= its check's own bound {bound_s:g} s"]
    return []


def drain_bound_s(where: str, settings: Settings) -> float:
    """The longest a component's SIGTERM drain may take: the delivery workers wait request_timeout_s + 2 s for
    in-flight notifications, then commit offsets; the ingest endpoint lets its requests end (each waits for Kafka's
    acknowledgement), then flushes its producer, whose batches may wait producer_request_timeout_ms."""
    if where == "callapi-ingest":
        return ingest_drain_s(settings) + settings.producer_request_timeout_ms / 1000
    return settings.connect_timeout_s + settings.request_timeout_s


def check_grace(where: str, pod: Obj, container: Obj, settings: Settings) -> list[str]:
    """Grace covers the preStop pause plus the drain: past it the pod is killed mid-drain."""
    pause_s = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    drain_s = drain_bound_s(where, settings)
    grace_s = pod.get("terminationGracePeriodSeconds", 30)
    if grace_s < pause_s + drain_s + 5:
        return [f"{where}: terminationGracePeriodSeconds {grace_s} < preStop {pause_s} + drain {drain_s} + 5"]
    return []


def check_workloads(objects: list[Obj]) -> list[str]:
    settings = overlay_settings(objects)
    deployments, jobs = by_name(objects, "Deployment"), by_name(objects, "Job")
    problems = [f"missing Deployment {name}" for name in COMPONENTS if name not in deployments]
    problems += [f"missing Job {name}" for name in JOBS if name not in jobs]
    for name, deployment in deployments.items():
        pod = pod_spec(deployment)
        (container,) = pod["containers"]
        if container.get("args", [None])[0] != COMPONENTS.get(name):
            problems.append(f"{name}: runs {container.get('args')}, not `{COMPONENTS.get(name)}`")
        if name == "callapi-api" and "--no-relay" not in container["args"]:
            problems.append(f"{name}: runs an outbox relay in every API pod besides callapi-relay")
        problems += check_container(name, pod, container) + check_probes(name, container) + check_host(name, container)
        problems += check_grace(name, pod, container, settings) + check_readiness_timeout(name, container, settings)
        if name in CONSUMERS and deployment["spec"].get("replicas", 1) > settings.partitions:
            problems.append(f"{name}: more replicas than the {settings.partitions} partitions")
    for name, job in jobs.items():
        pod = pod_spec(job)
        (container,) = pod["containers"]
        if container.get("args") != JOBS.get(name):
            problems.append(f"{name}: runs {container.get('args')}, not {JOBS.get(name)}")
        problems += check_container(name, pod, container)
    return problems


def reads_database(workload: str) -> bool:
    """Does the workload's code connect to PostgreSQL (`settings.database_url`, or psycopg directly)?"""
    source = ROOT / SOURCES[workload]
    files = sorted(source.rglob("*.py")) if source.is_dir() else [source]
    files = [path for path in files if str(path.relative_to(ROOT)) not in OPERATOR_TOOLS]
    return any(word in path.read_text() for path in files for word in ("database_url", "psycopg"))


def check_database(objects: list[Obj]) -> list[str]:
    """Every workload whose code reads the database gets CALLAPI_DATABASE_URL from the Secret: without it, the
    setting falls back to the local stack's DSN on 127.0.0.1 and each database call fails."""
    workloads = {**by_name(objects, "Deployment"), **by_name(objects, "Job")}
    problems = [f"{name}: no source known to tell whether it reads the database" for name in workloads
                if name not in SOURCES]
    for name, workload in workloads.items():
        if name not in SOURCES or not reads_database(name):
            continue
        env = {item["name"]: item for item in pod_spec(workload)["containers"][0].get("env", [])}
        if "secretKeyRef" not in env.get("CALLAPI_DATABASE_URL", {}).get("valueFrom", {}):
            problems.append(f"{name}: reads the database but gets no CALLAPI_DATABASE_URL from the Secret")
    return problems


def check_disruption_budgets(objects: list[Obj]) -> list[str]:
    """Every Deployment has a budget, and a budget lets a drain evict a pod that is not ready (a processor stuck
    rebalancing): by default such a pod counts against the budget and blocks the drain."""
    budgets = of_kind(objects, "PodDisruptionBudget")
    problems = [f"{name}: no PodDisruptionBudget" for name, deployment in by_name(objects, "Deployment").items()
                if not any(selects(b["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"])
                           for b in budgets)]
    return problems + [f"PodDisruptionBudget {b['metadata']['name']}: unhealthy pods block drains"
                       for b in budgets if b["spec"].get("unhealthyPodEvictionPolicy") != "AlwaysAllow"]


def check_scaling(objects: list[Obj]) -> list[str]:
    settings = overlay_settings(objects)
    deployments = by_name(objects, "Deployment")
    expected = {"callapi-processor": settings.topics.call_events, "callapi-delivery": settings.topics.deliveries,
                "callapi-sink": settings.topics.delivery_attempts}
    groups = {"callapi-processor": processor_group(settings), "callapi-delivery": delivery_group(settings),
              "callapi-sink": sink_group(settings)}
    scaled = {obj["spec"]["scaleTargetRef"]["name"]: obj for obj in of_kind(objects, "ScaledObject")}
    problems = [f"{name}: not scaled on lag" for name in expected if name not in scaled]
    for target, scaled_object in scaled.items():
        spec: dict[str, Any] = scaled_object["spec"]
        if target not in deployments:
            problems.append(f"ScaledObject targets unknown Deployment {target}")
            continue
        if "replicas" in deployments[target]["spec"]:
            problems.append(f"{target}: sets spec.replicas, which every `kubectl apply` would reset KEDA's count to")
        if not spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100) <= settings.partitions:
            problems.append(f"{target}: replicas {spec.get('minReplicaCount')}..{spec.get('maxReplicaCount')} "
                            f"exceed the {settings.partitions} partitions")
        behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
        window_s = behavior.get("scaleUp", {}).get("stabilizationWindowSeconds", 0)
        if target == "callapi-processor" and window_s < PROCESSOR_SCALE_UP_WINDOW_S:
            problems.append(f"{target}: scales up on lag shorter than {PROCESSOR_SCALE_UP_WINDOW_S} s")
        env = {ref.get("configMapRef", {}).get("name", "") for ref in
               pod_spec(deployments[target])["containers"][0].get("envFrom", [])}
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            if trigger["type"] != "kafka" or meta.get("topic") != expected.get(target):
                problems.append(f"{target}: trigger is not kafka lag on {expected.get(target)}")
            if meta.get("consumerGroup") != groups.get(target):
                problems.append(f"{target}: consumer group {meta.get('consumerGroup')} is not {groups.get(target)}")
            if meta.get("bootstrapServersFromEnv") != "CALLAPI_KAFKA_BOOTSTRAP" or not env:
                problems.append(f"{target}: bootstrap servers not taken from the settings")
            if meta.get("allowIdleConsumers", "false") != "false":
                problems.append(f"{target}: idle consumers allowed")
    return problems


def check_network(objects: list[Obj]) -> list[str]:
    policies = of_kind(objects, "NetworkPolicy")
    problems = []
    for name, deployment in by_name(objects, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for ip in PRIVATE_SAMPLES:
            if egress_allows_ip(policies, labels, ip):
                problems.append(f"{name} can reach private address {ip}")
        for ip in PUBLIC_SAMPLES:
            if egress_allows_ip(policies, labels, ip) != (name == "callapi-delivery"):
                problems.append(f"{name}: internet address {ip} reachability is wrong")
    return problems


def check_topics(objects: list[Obj], topics: list[Obj]) -> list[str]:
    """The KafkaTopics equal the code's specs for this overlay's settings."""
    wanted = {spec.name: (spec.partitions, spec.replication_factor, spec.config)
              for spec in overlay_settings(objects).topic_specs()}
    rendered = {t["spec"]["topicName"]: (t["spec"]["partitions"], t["spec"]["replicas"], t["spec"]["config"])
                for t in topics}
    return [] if rendered == wanted else [f"KafkaTopics differ from the code: {rendered} != {wanted}"]


ALL_CHECKS = (check_settings, check_workloads, check_database, check_disruption_budgets, check_scaling,
              check_network)
