"""Batched publishing: every record lands where a keyed `send` would put it, in order, and failures reach the
caller (who publishes again) instead of vanishing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from schemas.publisher import RecordPublisher, partition_for
from schemas.settings import Settings
from tests.kafka import read_topic


@given(key=st.binary(min_size=1, max_size=40), partitions=st.integers(1, 64))
def test_partition_matches_the_default_partitioner(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, every, every)


Record = tuple[str, bytes | None, bytes] | tuple[str, bytes | None, bytes, list[tuple[str, Any]]]


async def _published(settings: Settings, records: list[Record]) -> list[BaseException | None]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                                request_timeout_ms=3000, max_batch_size=16_384)
    await producer.start()
    try:
        publisher = RecordPublisher(producer)
        futures = [publisher.publish(*record) for record in records]
        return list(await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 30))
    finally:
        await producer.stop()


async def test_records_land_on_their_key_s_partition_in_order(settings: Settings) -> None:
    topic = settings.topics.delivery_attempts
    keys = [f"0003*{n}".encode() for n in range(40)]
    records = [(topic, keys[i % 40], f"{i:05d}".encode() + b"x" * 600) for i in range(1200)]  # several batches
    assert await _published(settings, records) == [None] * 1200
    read = await read_topic(settings, topic, count=1200)
    assert len(read) == 1200
    for record in read:
        assert record.key is not None and record.partition == partition_for(record.key, settings.partitions)
    by_key: dict[bytes, list[bytes]] = {}
    for record in sorted(read, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(record.key or b"", []).append(record.value or b"")
    for key, values in by_key.items():
        assert values == [value for _, k, value in records if k == key]


@pytest.mark.timeout(60)
async def test_a_failure_reaches_each_record_s_caller(settings: Settings) -> None:
    """An unknown topic (no metadata) fails its records; the other topic's records still go."""
    good = settings.topics.deliveries_dlq
    results = await _published(settings, [(f"{settings.topic_prefix}no-such-topic", b"k", b"v"), (good, b"k", b"v")])
    assert isinstance(results[0], Exception) and results[1] is None
    assert [r.value for r in await read_topic(settings, good, count=1)] == [b"v"]


async def test_headers_and_keyless_records_arrive(settings: Settings) -> None:
    topic = settings.topics.call_events_dlq
    headers = [("error", b"invalid_json"), ("original-offset", b"7")]
    assert await _published(settings, [(topic, None, b"unreadable", headers), (topic, b"k", b"plain")]) == [None, None]
    read = {r.value: r for r in await read_topic(settings, topic, count=2)}
    assert read[b"unreadable"].key is None and list(read[b"unreadable"].headers) == headers
    assert read[b"plain"].key == b"k" and not read[b"plain"].headers


@pytest.mark.timeout(60)
async def test_a_record_the_batch_cannot_take_fails_instead_of_hanging(settings: Settings) -> None:
    """A bad record (here a header value that is not bytes) fails its own and its batch-mates' futures with
    the error, rather than leaving their owners waiting forever."""
    topic = settings.topics.deliveries_dlq
    results = await _published(settings, [(topic, b"k", b"v", [("h", "not bytes")]), (topic, b"k", b"w")])
    assert all(isinstance(result, TypeError) for result in results), results
