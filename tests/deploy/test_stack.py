"""The local stack: idempotent `up`, truthful `status`, and a round trip with an outside Kafka client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

from schemas.settings import Settings
from tests.kafka import produce, read_topic


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callapi_events", *args], capture_output=True, text=True, timeout=180,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_stack_up_twice_is_fine_and_status_shows_both(base_settings: Settings) -> None:
    again = cli("stack", "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    status = cli("stack", "status")
    assert status.returncode == 0
    assert "kafka" in status.stdout and "ready" in status.stdout
    assert "postgresql" in status.stdout and "ready on 127.0.0.1" in status.stdout


def test_topics_create_is_idempotent_and_reports(base_settings: Settings) -> None:
    prefix = f"test.{uuid.uuid4().hex[:8]}."
    first = subprocess.run(
        [sys.executable, "-m", "callapi_events", "topics", "create", "--partitions", "2"],
        capture_output=True, text=True, env={**os.environ, "CALLAPI_TOPIC_PREFIX": prefix},
    )
    second = subprocess.run(
        [sys.executable, "-m", "callapi_events", "topics", "create", "--partitions", "2"],
        capture_output=True, text=True, env={**os.environ, "CALLAPI_TOPIC_PREFIX": prefix},
    )
    assert f"created {prefix}call-events" in first.stdout
    assert "13 created, 0 already there." in first.stdout
    assert "0 created, 13 already there." in second.stdout


async def test_kcat_round_trip_through_call_events(settings: Settings) -> None:
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    assert kcat, "kcat is part of the test prerequisites (Debian package kcat); `make setup` installs it"
    topic = settings.topics.call_events
    subprocess.run(
        [kcat, "-b", settings.kafka_bootstrap, "-P", "-t", topic, "-K", "|"],
        input="0003*210|from-kcat\n", text=True, check=True, timeout=30,
    )
    records = await read_topic(settings, topic, count=1)
    assert [(r.key, r.value) for r in records] == [(b"0003*210", b"from-kcat")]

    await produce(settings, topic, [("0003*211", b"from-aiokafka")])
    out = subprocess.run(
        [kcat, "-b", settings.kafka_bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k|%s\n"],
        capture_output=True, text=True, check=True, timeout=30,
    )
    assert sorted(out.stdout.splitlines()) == ["0003*210|from-kcat", "0003*211|from-aiokafka"]
