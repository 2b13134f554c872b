"""The dead-letter tools' readers on a real topic: oldest first across partitions, only what was there when it
started, and still every record when it must stop fetching partitions that are far ahead of the others; one
record read directly by its place."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing

import pytest
from aiokafka import AIOKafkaProducer

from schemas import topic_snapshot
from schemas.settings import Settings
from schemas.topic_snapshot import TopicMissing, record_at, records_oldest_first

BASE_MS = 1_795_000_000_000


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Topics of each test's own: every test reads its topic from the beginning."""
    return make_settings()


async def _write(settings: Settings, topic: str, records: list[tuple[int, int]]) -> None:
    """(partition, timestamp offset in seconds) each; the value names both."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for partition, second in records:
            await producer.send(topic, f"{partition}@{second}".encode(), partition=partition,
                                timestamp_ms=BASE_MS + second * 1000)
        await producer.flush()
    finally:
        await producer.stop()


async def _read_all(settings: Settings, topic: str, progress: list[tuple[int, int]] | None = None) -> list[str]:
    seen = progress if progress is not None else []
    async with aclosing(records_oldest_first(settings.kafka_bootstrap, topic,
                                             progress=lambda read, total: seen.append((read, total)))) as records:
        return [(record.value or b"").decode() async for record in records]


async def test_records_come_oldest_first_across_partitions(settings: Settings, monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setattr(topic_snapshot, "HELD_PER_PARTITION", 3)  # partition 0 runs far ahead: it must wait
    topic = settings.topics.deliveries_dlq
    # partition 0: seconds 0..199, every one; partition 1: every 10th second; partition 2: one late record
    records = [(0, s) for s in range(200)] + [(1, s) for s in range(5, 200, 10)] + [(2, 150)]
    await _write(settings, topic, records)
    progress: list[tuple[int, int]] = []
    listed = await _read_all(settings, topic, progress)
    expected = [f"{p}@{s}" for p, s in sorted(records, key=lambda ps: (ps[1], ps[0]))]
    assert listed == expected
    assert progress[-1] == (len(records), len(records))


async def test_records_written_after_the_start_are_left_for_next_time(settings: Settings) -> None:
    topic = settings.topics.deliveries_dlq
    await _write(settings, topic, [(0, 1), (1, 2)])
    async with aclosing(records_oldest_first(settings.kafka_bootstrap, topic)) as records:
        first = await anext(records)
        await _write(settings, topic, [(0, 4), (3, 3)])  # after the reading began
        rest = [record async for record in records]
    assert [(r.value or b"").decode() for r in (first, *rest)] == ["0@1", "1@2"]
    assert await _read_all(settings, topic) == ["0@1", "1@2", "3@3", "0@4"]


async def test_an_empty_topic_has_nothing_and_a_missing_one_says_so(settings: Settings) -> None:
    assert await _read_all(settings, settings.topics.deliveries_dlq) == []
    with pytest.raises(TopicMissing, match="nonexistent"):
        await _read_all(settings, f"{settings.topic_prefix}nonexistent")


async def test_one_record_is_read_directly_by_its_place(settings: Settings) -> None:
    topic = settings.topics.deliveries_dlq
    await _write(settings, topic, [(3, 0), (3, 1), (1, 2)])
    found = await record_at(settings.kafka_bootstrap, topic, 3, 1)
    assert found is not None and (found.partition, found.offset, found.value) == (3, 1, b"3@1")
    assert await record_at(settings.kafka_bootstrap, topic, 3, 2) is None  # past the end
    assert await record_at(settings.kafka_bootstrap, topic, settings.partitions, 0) is None  # no such partition
    with pytest.raises(TopicMissing):
        await record_at(settings.kafka_bootstrap, f"{settings.topic_prefix}nonexistent", 0, 0)
