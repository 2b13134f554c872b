"""`relay --resync` and `db migrate` as an operator runs them with Kafka or PostgreSQL unreachable, or a prefix
whose topics do not exist: a short message on stderr saying what to do, exit 1, never a traceback or a wait on a
missing topic."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid

import httpx
import pytest

from schemas.ops import free_port
from schemas.settings import Settings
from tests.polling import eventually
from tests.processes import Component, settings_env

NO_DATABASE = "postgresql://callapi:callapi@127.0.0.1:1/callapi"


def cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callapi_events", *args], env={**settings_env(settings), **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("env", "said"), [
    ({"CALLAPI_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, "Cannot reach Kafka at 127.0.0.1:1"),
    ({"CALLAPI_DATABASE_URL": NO_DATABASE}, "Cannot reach PostgreSQL"),
])
def test_resync_without_kafka_or_postgres_says_what_to_set(settings: Settings, env: dict[str, str],
                                                           said: str) -> None:
    done = cli(settings, "relay", "--resync", **env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert said in done.stderr and said not in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr
    assert "Unable connect" not in done.stderr, done.stderr  # aiokafka's own line would only repeat ours


def test_resync_on_an_unmigrated_database_says_to_migrate(settings: Settings, unmigrated_database_url: str) -> None:
    done = cli(settings, "relay", "--resync", CALLAPI_DATABASE_URL=unmigrated_database_url)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "The database has no callapi tables. Run `callapi-events db migrate`" in " ".join(done.stderr.split())


def test_resync_names_a_missing_topic_at_once(base_settings: Settings) -> None:
    prefix = f"missing.{uuid.uuid4().hex[:10]}."
    done = cli(base_settings, "relay", "--resync", CALLAPI_TOPIC_PREFIX=prefix)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"topic {prefix}event-requests does not exist" in done.stderr and "Traceback" not in done.stderr


def test_db_migrate_without_postgres_says_so_on_stderr(base_settings: Settings) -> None:
    done = cli(base_settings, "db", "migrate", CALLAPI_DATABASE_URL=NO_DATABASE)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Cannot reach PostgreSQL" in done.stderr and "CALLAPI_DATABASE_URL" in done.stderr, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr, done.stdout


def test_db_migrate_says_each_migration_once(base_settings: Settings, unmigrated_database_url: str) -> None:
    done = cli(base_settings, "db", "migrate", CALLAPI_DATABASE_URL=unmigrated_database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "applied 0001_core" in done.stdout and "0001_core" not in done.stderr, done.stderr


def test_admin_without_postgres_says_so_on_stderr(base_settings: Settings) -> None:
    done = cli(base_settings, "admin", "provider", "create", "Acme", CALLAPI_DATABASE_URL=NO_DATABASE)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Cannot reach PostgreSQL" in done.stderr and "CALLAPI_DATABASE_URL" in done.stderr, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr, done.stdout


def test_admin_on_an_unmigrated_database_says_to_migrate(base_settings: Settings,
                                                         unmigrated_database_url: str) -> None:
    done = cli(base_settings, "admin", "provider", "create", "Acme", CALLAPI_DATABASE_URL=unmigrated_database_url)
    assert done.returncode == 1, done.stdout + done.stderr  # the environment, not the input
    assert "callapi-events db migrate" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""


def failed_rounds(metrics_url: str, counter: str) -> int:
    try:
        text = httpx.get(metrics_url, timeout=2).text
    except httpx.TransportError:
        return 0
    return next((int(float(line.split()[-1])) for line in text.splitlines() if line.startswith(f"{counter} ")), 0)


@pytest.mark.parametrize("command", ["relay", "sink"])
def test_service_without_kafka_says_what_to_set_without_flooding_the_log(settings: Settings, command: str) -> None:
    port = free_port()
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        bootstrap = f"127.0.0.1:{closed.getsockname()[1]}"
    wrong = settings.model_copy(update={"kafka_bootstrap": bootstrap})
    metrics_url, counter = f"http://127.0.0.1:{port}/metrics", f"callapi_{command}_failures_total"
    with Component(wrong, command, "--port", str(port)) as service:
        failures = eventually(lambda: (n := failed_rounds(metrics_url, counter)) >= 5 and n)
        assert failures, service.log()
        log = service.log()
    warnings = [line for line in log.splitlines() if f"{command} round failed" in line]
    assert warnings and len(warnings) < failures, log  # it keeps retrying, but says so once in a while
    assert f"cannot reach Kafka at {bootstrap}" in warnings[0] and "CALLAPI_KAFKA_BOOTSTRAP" in warnings[0], log
    assert "Unable connect" not in log, log  # aiokafka's own line, every second, would only repeat ours
    assert "Unclosed" not in log, log  # a failed start closes what it opened
