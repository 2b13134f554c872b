"""`deliver` and `dlq …` as an operator runs them, given wrong input or an unreachable Kafka: a short message
and a non-zero exit, never a traceback or a wait for a topic that will not come."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from schemas.hints import KAFKA_NEXT_STEP
from schemas.settings import Settings
from tests.processes import Component, settings_env
from tests.services import wait_until

UNREACHABLE = {"CALLAPI_KAFKA_BOOTSTRAP": "127.0.0.1:1"}


def cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callapi_events", *args], env={**settings_env(settings), **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args", [("dlq", "list"), ("dlq", "show", "msg_x"), ("dlq", "redrive", "--yes")])
def test_dlq_names_a_missing_topic_instead_of_waiting_for_it(base_settings: Settings, args: tuple[str, ...]) -> None:
    prefix = f"missing.{uuid.uuid4().hex[:10]}."
    done = cli(base_settings, *args, CALLAPI_TOPIC_PREFIX=prefix)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"topic {prefix}deliveries.dlq does not exist" in done.stderr and "Traceback" not in done.stderr


def test_a_worker_of_a_prefix_without_topics_says_so_instead_of_idling_in_silence(base_settings: Settings) -> None:
    prefix = f"missing.{uuid.uuid4().hex[:10]}."
    worker = Component(base_settings, "deliver", "--port", "0")
    worker.env["CALLAPI_TOPIC_PREFIX"] = prefix
    with worker:
        said = f"topic {prefix}deliveries does not exist on {base_settings.kafka_bootstrap}"
        wait_until(lambda: said in worker.log(), timeout_s=60, what="the missing topic named", log=worker.log)
    assert "is CALLAPI_TOPIC_PREFIX right?" in worker.log() and "Traceback" not in worker.log()


@pytest.mark.parametrize("args", [("dlq", "list"), ("deliver", "--port", "0")])
def test_unreachable_kafka_is_one_line_saying_what_to_set(base_settings: Settings, args: tuple[str, ...]) -> None:
    done = cli(base_settings, *args, **UNREACHABLE)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Cannot reach Kafka at 127.0.0.1:1" in done.stderr and "CALLAPI_KAFKA_BOOTSTRAP" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Unable connect" not in done.stderr, done.stderr  # aiokafka's own line would only repeat ours


@pytest.mark.parametrize("args", [("dlq", "list"), ("dlq", "show", "msg_x"), ("dlq", "events", "list"),
                                  ("dlq", "redrive", "--yes"), ("dlq", "events", "redrive", "--yes")])
def test_a_dlq_tool_without_kafka_prints_its_message_and_nothing_else(base_settings: Settings,
                                                                       args: tuple[str, ...]) -> None:
    done = cli(base_settings, *args, **UNREACHABLE)
    assert done.returncode == 1, done.stdout + done.stderr
    # piped, the progress bar shows nothing: not even the blank line rich ends it with; and a producer that could
    # not start is closed (no "Unclosed AIOKafkaProducer" line)
    assert (done.stdout, done.stderr) == ("", f"Cannot reach Kafka at 127.0.0.1:1: {KAFKA_NEXT_STEP}.\n")


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--tenant", "abc", "organization code 'abc' is not 1-4 digits"),
    ("--extension", "abc*", "extension 'abc*' is neither"),
])
def test_a_malformed_filter_is_refused_before_reading(base_settings: Settings, option: str, value: str,
                                                       said: str) -> None:
    # Kafka unreachable too: the filter is checked first, so the answer does not depend on the topic's contents
    for args in (("dlq", "list", option, value), ("dlq", "redrive", option, value)):
        done = cli(base_settings, *args, **UNREACHABLE)
        assert done.returncode == 2 and said in done.stderr, done.stdout + done.stderr
