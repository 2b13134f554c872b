"""Consumer lag: the pure arithmetic, and the exporter as a real process against the real broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from deploy.lag import lag_by_topic
from deploy.topics import delete_topics
from schemas.ops import free_port
from schemas.settings import Settings
from tests.conftest import new_settings
from tests.deploy.manifests import promtool
from tests.kafka import produce
from tests.processes import ARTIFACTS, settings_env

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


@pytest.mark.parametrize(
    ("end", "committed", "beginning", "expected"),
    [
        ({A0: 10, A1: 5}, {A0: 7, A1: 5}, {}, {"a": 3}),
        ({A0: 10, B0: 4}, {A0: 10}, {B0: 1}, {"a": 0, "b": 3}),  # no commit yet: from the beginning
        ({A0: 10}, {A0: 12}, {}, {"a": 0}),  # committed past the end (topic recreated): no negative lag
        ({A0: 0, A1: 0}, {}, {A0: 0, A1: 0}, {"a": 0}),
        ({}, {A0: 3}, {}, {}),
    ],
)
def test_lag_by_topic(end: dict[TopicPartition, int], committed: dict[TopicPartition, int],
                      beginning: dict[TopicPartition, int], expected: dict[str, int]) -> None:
    assert lag_by_topic(end=end, committed=committed, beginning=beginning) == expected


@pytest.fixture(scope="module")
def lag_settings(base_settings: Settings) -> Iterator[Settings]:
    """Topics of this module's own (no database needed)."""
    settings = new_settings(base_settings, base_settings.database_url)
    yield settings
    asyncio.run(delete_topics(settings.kafka_bootstrap, [s.name for s in settings.topic_specs()]))


async def commit(settings: Settings, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()



def scrape_when_ready(base: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the lag exporter exited"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return httpx.get(f"{base}/metrics", timeout=5).text
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the lag exporter never became ready")


def test_exporter_reports_each_groups_lag_and_passes_promtool(lag_settings: Settings) -> None:
    topic = lag_settings.topics.call_events
    asyncio.run(produce(lag_settings, topic, [(f"0003*{200 + i}", b"{}") for i in range(40)]))
    end = asyncio.run(end_offsets(lag_settings, topic))
    group = f"{lag_settings.topic_prefix}processor"
    # The group has consumed all but one record of every non-empty partition.
    asyncio.run(commit(lag_settings, group, {tp: offset - 1 for tp, offset in end.items() if offset > 0}))
    asyncio.run(commit(lag_settings, "elsewhere.unrelated", dict.fromkeys(end, 0)))
    expected_lag = sum(1 for offset in end.values() if offset > 0)

    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / f"lag-exporter-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploy.lag_cli", "--port", str(port), "--interval-s", "1"],
            env=settings_env(lag_settings), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        text = scrape_when_ready(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    series = f'callapi_consumer_lag{{group="{group}",topic="{topic}"}} {float(expected_lag)}'
    assert series in text, text
    assert "elsewhere.unrelated" not in text
    check = promtool("check", "metrics", stdin=text)
    assert check.returncode == 0, check.stdout + check.stderr
