"""deploy/compose.yaml: valid for Compose, and the stack and pipeline it describes fit together.

No Docker engine runs here: Compose's own validator (`docker-compose config`) checks the file against the
Compose specification, and the invariants below check what the specification cannot.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg.conninfo
import yaml

from schemas.settings import Settings
from tests.deploy.k8s_invariants import readiness_bound_s
from tests.deploy.manifests import tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
STACK = {"kafka", "postgres"}
SETUP = {"migrate": ["db", "migrate"], "topics": ["topics", "create"]}
SERVING = {"api": ("api", 8080), "relay": ("relay", 9103), "ingest": ("ingest", 8081),
           "processor": ("processor", 9101), "delivery": ("deliver", 9102), "sink": ("sink", 9104),
           "lag-exporter": ("lag-exporter", 9105)}
NOT_SETTINGS = {"CALLAPI_LOG_LEVEL", "CALLAPI_LOG_FORMAT"}


def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return loaded


def test_compose_validates_against_the_compose_specification() -> None:
    result = subprocess.run([tool("docker-compose"), "-f", str(COMPOSE), "config", "-q"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_stack_alone_matches_the_local_stack() -> None:
    found = services()
    kafka, postgres = found["kafka"], found["postgres"]
    assert kafka["image"] == "apache/kafka:4.1.2" and postgres["image"] == "postgres:15"
    assert "127.0.0.1:9092:9092" in kafka["ports"] and "127.0.0.1:5432:5432" in postgres["ports"]
    assert "broker,controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "HOST://127.0.0.1:9092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    env = postgres["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == ("callapi",) * 3
    # `docker compose up -d kafka postgres` starts exactly these two.
    assert "depends_on" not in kafka and "depends_on" not in postgres
    # The local stack's DSN and bootstrap (the defaults of Settings) reach the published ports.
    assert Settings.model_fields["kafka_bootstrap"].default == "127.0.0.1:9092"


def test_every_component_runs_from_the_one_image_with_its_command() -> None:
    found = services()
    assert set(found) == STACK | set(SETUP) | set(SERVING)
    for name in set(SETUP) | set(SERVING):
        service = found[name]
        assert (COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == (
            ROOT / "deploy" / "Dockerfile")
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    for name, setup in SETUP.items():
        assert found[name]["command"] == setup and found[name]["restart"] == "no"
    for name, (command, port) in SERVING.items():
        service = found[name]
        extra = ["--no-relay"] if name == "api" else []  # the relay runs once, as its own service
        assert service["command"] == [command, *extra, "--host", "::", "--port", str(port)]
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert service["healthcheck"]["test"][-1] == f"http://127.0.0.1:{port}/readyz"
        assert service["depends_on"] == {step: {"condition": "service_completed_successfully"} for step in SETUP}


def seconds(duration: str) -> float:
    """A Compose duration such as `30s`, `1m30s` or `1m`."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", duration)
    assert parts and "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def test_each_component_may_drain_as_long_as_on_kubernetes() -> None:
    """Compose waits stop_grace_period (default 10 s) after SIGTERM before it kills; Kubernetes waits
    terminationGracePeriodSeconds, which the k8s tests hold against each component's drain."""
    deployments = {doc["metadata"]["name"]: doc for path in (ROOT / "deploy" / "k8s" / "base").glob("*.yaml")
                   for doc in yaml.safe_load_all(path.read_text()) if doc and doc["kind"] == "Deployment"}
    found = services()
    for name in SERVING:
        grace_s = deployments[f"callapi-{name}"]["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        assert seconds(found[name].get("stop_grace_period", "10s")) >= grace_s, name


def test_settings_point_at_the_stack_services() -> None:
    found = services()
    advertised = found["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    postgres_env = found["postgres"]["environment"]
    for name in set(SETUP) | set(SERVING):
        env = found[name]["environment"]
        unknown = {k for k in env if k not in NOT_SETTINGS} - {f"CALLAPI_{f.upper()}" for f in Settings.model_fields}
        assert not unknown, unknown
        assert f"//{env['CALLAPI_KAFKA_BOOTSTRAP']}" in advertised
        dsn = psycopg.conninfo.conninfo_to_dict(env["CALLAPI_DATABASE_URL"])
        assert (dsn["host"], dsn["user"], dsn["password"], dsn["dbname"]) == (
            "postgres", postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_PASSWORD"], postgres_env["POSTGRES_DB"])
        Settings(**{k.removeprefix("CALLAPI_").lower(): v for k, v in env.items() if k not in NOT_SETTINGS})


def test_each_healthcheck_waits_longer_than_the_readiness_check_it_calls() -> None:
    """As the Kubernetes probes (k8s_invariants.readiness_bound_s): a check cut short marks a slow but working
    component unhealthy; Compose's timeout bounds the command, the command's own bounds its request."""
    for name, service in services().items():
        if name not in SERVING:
            continue
        check = service["healthcheck"]
        bound_s = readiness_bound_s(f"callapi-{name}", Settings())
        waited_s = float(re.search(r"timeout=(\d+(?:\.\d+)?)", check["test"][3]).group(1))  # type: ignore[union-attr]
        assert bound_s < waited_s < seconds(check["timeout"]), (name, bound_s, waited_s, check["timeout"])
