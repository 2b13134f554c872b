"""`processor` and `replay` as an operator runs them, given a malformed filter, a missing topic or an
unreachable Kafka: a short message and a non-zero exit (2: usage, 1: environment), never a
traceback."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import uuid

import pytest

from deploy.topics import create_topics, delete_topics
from schemas.hints import KAFKA_NEXT_STEP
from schemas.settings import Settings
from tests.processes import settings_env


def cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callapi_events", *args], env={**settings_env(settings), **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "said"), [
    (("processor", "--port", "0"), "processor cannot start: cannot reach Kafka at 127.0.0.1:1"),
    (("replay", "--since", "1h"), "replay: cannot reach Kafka at 127.0.0.1:1"),
    (("replay", "--since", "1h", "--dry-run"), "replay: cannot reach Kafka at 127.0.0.1:1"),
    (("replay", "--since", "1h", "--deliveries", "--dry-run"), "replay: cannot reach Kafka at 127.0.0.1:1"),
])
def test_unreachable_kafka_is_one_line_saying_what_to_set(base_settings: Settings, args: tuple[str, ...],
                                                         said: str) -> None:
    done = cli(base_settings, *args, CALLAPI_KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert said in done.stderr and "CALLAPI_KAFKA_BOOTSTRAP" in done.stderr
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr
    assert "Unable connect" not in done.stderr, done.stderr  # aiokafka's own line would only repeat ours


@pytest.mark.parametrize("json_output", [(), ("--json",)])
def test_a_replay_without_kafka_prints_its_message_and_nothing_else(base_settings: Settings,
                                                                     json_output: tuple[str, ...]) -> None:
    done = cli(base_settings, "replay", "--since", "1h", *json_output, CALLAPI_KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert done.returncode == 1, done.stdout + done.stderr
    # piped, the progress bar shows nothing: not even the blank line rich ends it with, on stdout or stderr
    assert (done.stdout, done.stderr) == ("", f"replay: cannot reach Kafka at 127.0.0.1:1: {KAFKA_NEXT_STEP}\n")


def test_replay_refuses_a_tenant_that_is_not_an_organization_code(base_settings: Settings) -> None:
    done = cli(base_settings, "replay", "--since", "1h", "--tenant", "0003", "--tenant", "acme")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "organization code 'acme' is not 1-4 digits" in done.stderr


@pytest.mark.parametrize("args", [(), ("--dry-run",), ("--deliveries",), ("--deliveries", "--dry-run")])
def test_replay_of_a_missing_topic_exits_1_naming_the_topic(base_settings: Settings, args: tuple[str, ...]) -> None:
    prefix = f"missing.{uuid.uuid4().hex[:10]}."
    done = cli(base_settings, "replay", "--since", "1h", *args, CALLAPI_TOPIC_PREFIX=prefix)
    assert done.returncode == 1, done.stdout + done.stderr  # the environment, as for `dlq list`: not a usage error
    assert f"topic {prefix}" in done.stderr and "does not exist" in done.stderr and "topics create" in done.stderr
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr


def test_processor_of_a_missing_topic_exits_1_naming_the_topic(base_settings: Settings) -> None:
    prefix = f"missing.{uuid.uuid4().hex[:10]}."
    done = cli(base_settings, "processor", "--port", "0", CALLAPI_TOPIC_PREFIX=prefix)
    assert done.returncode == 1, done.stdout + done.stderr  # the environment, not the command line
    assert f"processor cannot start: topic(s) {prefix}" in done.stderr and "topics create" in done.stderr
    assert "Traceback" not in done.stderr


def test_processor_of_topics_not_co_partitioned_exits_1_saying_what_to_fix(base_settings: Settings) -> None:
    settings = Settings(kafka_bootstrap=base_settings.kafka_bootstrap, partitions=4,
                        topic_prefix=f"test.{uuid.uuid4().hex[:10]}.")
    fewer = settings.topics.event_requests
    specs = [dataclasses.replace(s, partitions=2) if s.name == fewer else s for s in settings.topic_specs()]
    asyncio.run(create_topics(settings.kafka_bootstrap, specs))
    try:
        done = cli(base_settings, "processor", "--port", "0", CALLAPI_TOPIC_PREFIX=settings.topic_prefix)
    finally:
        asyncio.run(delete_topics(settings.kafka_bootstrap, [s.name for s in specs]))
    assert done.returncode == 1, done.stdout + done.stderr  # the environment, not the command line
    assert f"{settings.topics.call_events} has 4 partitions but {fewer} has 2" in done.stderr
    assert "Traceback" not in done.stderr


def test_replay_help_says_the_window_ends_now_by_default(base_settings: Settings) -> None:
    done = cli(base_settings, "replay", "--help", COLUMNS="200")
    assert done.returncode == 0, done.stdout + done.stderr
    until = next(line for line in done.stdout.splitlines() if "--until" in line)
    assert "[default: (now)]" in until and "0s" not in until, until


@pytest.mark.parametrize("since", ["999999999d", "99999999999999999999999d"])
def test_a_duration_reaching_before_the_year_1_is_refused_with_exit_2(base_settings: Settings, since: str) -> None:
    done = cli(base_settings, "replay", "--since", since, "--dry-run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"replay: '{since}' reaches back before the year 1: give a shorter duration" in done.stderr
    assert "Traceback" not in done.stderr


def test_replay_to_a_missing_deliveries_topic_exits_1_before_reading(base_settings: Settings) -> None:
    settings = Settings(kafka_bootstrap=base_settings.kafka_bootstrap, partitions=2,
                        topic_prefix=f"test.{uuid.uuid4().hex[:10]}.")
    specs = [s for s in settings.topic_specs() if s.name != settings.topics.deliveries]
    asyncio.run(create_topics(settings.kafka_bootstrap, specs))
    try:  # sending, it waited for the topic forever
        done = cli(base_settings, "replay", "--since", "1h", CALLAPI_TOPIC_PREFIX=settings.topic_prefix)
    finally:
        asyncio.run(delete_topics(settings.kafka_bootstrap, [s.name for s in specs]))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"replay: topic {settings.topics.deliveries} does not exist" in done.stderr
    assert "Traceback" not in done.stderr
