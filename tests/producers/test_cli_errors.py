"""`ingest-key create|revoke` with PostgreSQL unreachable: what failed and what to set, exit 1, no traceback;
`simulate --help` with units and defaults."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas.settings import Settings
from tests.processes import settings_env

NO_DATABASE = "postgresql://callapi:callapi@127.0.0.1:1/callapi"


@pytest.mark.parametrize(("args", "said"), [
    (("ingest-key", "create", "--org", "1"), "Cannot create the key"),
    (("ingest-key", "revoke", "1"), "Cannot revoke the key"),
])
def test_ingest_keys_without_postgres_say_what_to_set(base_settings: Settings, args: tuple[str, ...],
                                                      said: str) -> None:
    done = subprocess.run([sys.executable, "-m", "callapi_events", *args],
                          env={**settings_env(base_settings), "CALLAPI_DATABASE_URL": NO_DATABASE},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert said in done.stderr and "CALLAPI_DATABASE_URL" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [("ingest-key", "create", "--org", "1"), ("ingest-key", "revoke", "1")])
def test_ingest_keys_on_an_unmigrated_database_say_to_migrate(base_settings: Settings, unmigrated_database_url: str,
                                                              args: tuple[str, ...]) -> None:
    done = subprocess.run([sys.executable, "-m", "callapi_events", *args], capture_output=True, text=True,
                          env={**settings_env(base_settings), "CALLAPI_DATABASE_URL": unmigrated_database_url},
                          timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "Run `callapi-events db migrate`" in done.stderr, done.stderr


def test_simulate_help_says_the_unit_and_default_of_linger_and_seed(base_settings: Settings) -> None:
    done = subprocess.run([sys.executable, "-m", "callapi_events", "simulate", "--help"],
                          env={**settings_env(base_settings), "COLUMNS": "300"}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "in ms (default: CALLAPI_PRODUCER_LINGER_MS, 5)" in done.stdout
    assert "(default: random, printed at the start)" in done.stdout


def test_simulate_names_a_missing_topic_at_once_instead_of_waiting_on_every_event(base_settings: Settings) -> None:
    prefix = f"missing.{uuid.uuid4().hex[:10]}."
    env = {name: value for name, value in settings_env(base_settings).items() if name not in ("COLUMNS", "LINES")}
    done = subprocess.run([sys.executable, "-m", "callapi_events", "simulate", "--count", "20"],
                          env={**env, "CALLAPI_TOPIC_PREFIX": prefix},
                          capture_output=True, text=True, timeout=120)  # the old way: 15 s per event, 300 s
    assert done.returncode == 1, done.stdout + done.stderr
    # Piped, the message of more than 80 characters stays one line (for logs and grep), not cut at 80 columns.
    said = next((line for line in done.stderr.splitlines() if f"topic {prefix}call-events does not exist" in line), "")
    assert len(said) > 80 and "topics create" in said, done.stderr  # on stderr: stdout stays the run's output
    assert "Traceback" not in done.stderr and "does not exist" not in done.stdout


def test_simulate_refuses_a_start_far_in_the_future_instead_of_waiting_silently_for_it(
    settings: Settings,
) -> None:
    typo = (datetime.now(UTC) + timedelta(days=366)).replace(microsecond=0)  # the year mistyped
    done = subprocess.run([sys.executable, "-m", "callapi_events", "simulate", "--count", "1", "--start",
                           typo.isoformat()],
                          env=settings_env(settings), capture_output=True, text=True, timeout=60)
    said = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--start" in said and "is 366 days from now" in said and "at most 60 s ahead" in said, said
    assert "seed" not in done.stdout, done.stdout  # refused before the run begins


def test_simulate_provision_without_postgres_says_what_to_set(base_settings: Settings) -> None:
    done = subprocess.run([sys.executable, "-m", "callapi_events", "simulate", "--provision-only", "--receiver-url",
                           "http://127.0.0.1:9/"],
                          env={**settings_env(base_settings), "CALLAPI_DATABASE_URL": NO_DATABASE},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CALLAPI_DATABASE_URL" in done.stderr and "Traceback" not in done.stderr


def test_ingest_on_a_port_already_taken_says_so_in_one_line_and_exits_1(base_settings: Settings) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "callapi_events", "ingest", "--port", str(port)],
                              env=settings_env(base_settings), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot listen on 127.0.0.1:{port} (address already in use)" in done.stderr.lower()
    assert "--port" in done.stderr and "Traceback" not in done.stderr and "Unclosed" not in done.stderr
