"""A replay whose broker goes away mid-run (its own broker: the shared one stays up): it stops within
CALLAPI_PRODUCER_REQUEST_TIMEOUT_MS, or at once on Ctrl-C, and says what went and what to run again."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.kafka import Kafka
from schemas.settings import Settings
from tests.conftest import new_settings
from tests.kafka import broker_of_its_own, crash
from tests.processors.test_replay import BIG_EVENTS, BIG_FAN_OUT, _records_on, big_replay_started

pytestmark = pytest.mark.faults
EXT = "0606*100"


@pytest.fixture
def broker(base_settings: Settings, tmp_path: Path) -> Iterator[Kafka]:
    with broker_of_its_own(base_settings, tmp_path) as kafka:
        yield kafka


def _replay_until_the_broker_dies(settings: Settings, broker: Kafka, *args: str) -> subprocess.Popen[str]:
    """A replay of 40,000 jobs, the broker killed once the first batch is on `deliveries`."""
    replay = big_replay_started(settings, EXT, *args)
    crash(broker)
    return replay


def _on_the_topic_after_restart(settings: Settings, broker: Kafka) -> int:
    broker.up()
    return asyncio.run(_records_on(settings, settings.topics.deliveries))


def test_a_lost_broker_ends_the_replay_with_exit_1_saying_what_went_and_what_to_run_again(
    base_settings: Settings, database_url: str, broker: Kafka,
) -> None:
    settings = new_settings(base_settings, database_url, kafka_bootstrap=f"127.0.0.1:{broker.port}",
                            producer_request_timeout_ms=3000)
    replay = _replay_until_the_broker_dies(settings, broker, "--json")
    try:
        shown, said = replay.communicate(timeout=120)
    finally:
        replay.kill()
    assert replay.returncode == 1, said
    assert "Traceback" not in said and "Unclosed" not in said, said
    went = re.search(r"replay stopped: Kafka at (\S+) did not answer within 3 s \(CALLAPI_PRODUCER_REQUEST_TIMEOUT_MS\)"
                     r"; (\d+) job\(s\) sent to (\S+)(?:, (\d+) more unconfirmed[^;]*)?;", " ".join(said.split()))
    assert went is not None, said
    bootstrap, sent, target, unconfirmed = *went.groups()[:3], went.group(4) or "0"
    assert (bootstrap, target) == (settings.kafka_bootstrap, settings.topics.deliveries)
    assert "Run the same command again once Kafka answers" in " ".join(said.split()), said
    summary = json.loads(shown)
    assert (summary["interrupted"], summary["jobs_sent"], summary["jobs_unconfirmed"]) == (
        True, int(sent), int(unconfirmed))
    landed = _on_the_topic_after_restart(settings, broker)
    assert int(sent) <= landed <= int(sent) + int(unconfirmed) < BIG_EVENTS * BIG_FAN_OUT


def test_ctrl_c_stops_a_replay_whose_broker_is_gone_instead_of_waiting_for_its_batch(
    base_settings: Settings, database_url: str, broker: Kafka,
) -> None:
    settings = new_settings(base_settings, database_url, kafka_bootstrap=f"127.0.0.1:{broker.port}",
                            producer_request_timeout_ms=3_600_000)  # only Ctrl-C ends it
    replay = _replay_until_the_broker_dies(settings, broker)
    try:
        replay.send_signal(signal.SIGINT)
        _, said = replay.communicate(timeout=60)
    finally:
        replay.kill()
    assert replay.returncode == 130, said
    assert "Traceback" not in said and "Unclosed" not in said, said
    went = re.search(r"replay interrupted: (\d+) job\(s\) sent to \S+(?:, (\d+) more unconfirmed[^;]*)?;", said)
    assert went is not None, said
    sent, unconfirmed = int(went.group(1)), int(went.group(2) or 0)
    landed = _on_the_topic_after_restart(settings, broker)
    assert sent <= landed <= sent + unconfirmed
