"""Dead letters the broker would refuse as they are: the processor must still letter the record and go on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer

from schemas.events import EventType
from schemas.settings import Settings
from tests.kafka import read_topic_sync
from tests.processors.support import call_event, produce_config, produce_events, read_jobs, request
from tests.services import Service

A = "0303*100"
CONFIG_SET = 'callapi_processor_config_records_total{result="set"}'
BROKER_MAX_MESSAGE_BYTES = 1_048_588
"""Kafka's default `message.max.bytes`; the test topics keep it."""


@pytest.fixture(scope="module")
def processor(settings: Settings) -> Iterator[Service]:
    produce_config(settings, {A: [request(A, "rA", EventType.DIAL_IN)]})
    with Service(settings, "processor") as running:
        running.wait_metric(CONFIG_SET, 1)
        yield running


async def _produce_near_the_broker_limit(settings: Settings, key: bytes) -> tuple[int, bytes]:
    """A record the broker just accepts on call-events (its letter, with headers added, would be too large)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                                max_request_size=2 * BROKER_MAX_MESSAGE_BYTES)
    await producer.start()
    try:
        value = b'{"padding": "' + b"p" * (BROKER_MAX_MESSAGE_BYTES - 125) + b'"}'
        metadata = await (await producer.send(settings.topics.call_events, key=key, value=value))
        return int(metadata.offset), value
    finally:
        await producer.stop()


def test_a_record_too_large_to_dead_letter_whole_is_lettered_truncated_and_the_partition_goes_on(
    settings: Settings, processor: Service,
) -> None:
    offset, value = asyncio.run(_produce_near_the_broker_limit(settings, A.encode()))
    after = call_event(A)
    produce_events(settings, [after])  # same key, same partition: waits behind the huge record

    read_jobs(settings, lambda jobs: any(j.event_id == after.event_id for j in jobs), timeout_s=60)
    (letter,) = read_topic_sync(settings, settings.topics.call_events_dlq, count=1)
    headers = dict(letter.headers)
    assert headers["error"] == b"too_large"
    assert int(headers["original-offset"]) == offset
    assert int(headers["original-value-size"]) == len(value)  # the whole record stays on call-events
    assert len(letter.value) < len(value) and value.startswith(letter.value)
    assert letter.key == A.encode()


@pytest.mark.parametrize(("key", "value", "reason"), [
    (None, None, "invalid_json"),  # a tombstone without a key
    (A.encode(), None, "invalid_json"),  # a tombstone
    (b"\xff\xfe", call_event(A).model_dump_json().encode(), "key_mismatch"),  # a key that is not UTF-8
    (A.encode(), b'{"event_id": "\xff\xfe"}', "invalid_json"),  # a value that is not UTF-8
    (A.encode(), b"[" * 60_000, "invalid_json"),  # nested deeper than any parser goes
    (A.encode(), call_event(A).model_dump_json().replace('"dial-in"', '"ringing"').encode(), "schema_invalid"),
    (A.encode(), call_event(A).model_dump_json().replace('"2026-11-27T10:00:00Z"', '"9999-12-31T23:59:59-14:00"')
     .encode(), "schema_invalid"),
], ids=["null-key-tombstone", "tombstone", "key-not-utf8", "value-not-utf8", "deep", "unknown-type", "no-utc-time"])
def test_each_malformed_record_is_lettered_with_its_reason_and_the_next_event_is_processed(
    settings: Settings, processor: Service, key: bytes | None, value: bytes | None, reason: str,
) -> None:
    offset = asyncio.run(_produce_raw(settings, key, value))
    after = call_event(A)
    produce_events(settings, [after])

    read_jobs(settings, lambda jobs: any(j.event_id == after.event_id for j in jobs), timeout_s=60)
    letters = read_topic_sync(settings, settings.topics.call_events_dlq, idle_s=1.0)
    (letter,) = [r for r in letters if dict(r.headers)["original-offset"] == str(offset).encode()
                 and r.key == key and r.value == value]
    assert dict(letter.headers)["error"] == reason.encode()


async def _produce_raw(settings: Settings, key: bytes | None, value: bytes | None) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        # The partition of the events keyed A, so the next event waits behind this record.
        partition = (await producer.send_and_wait(settings.topics.call_events, key=A.encode(), value=b"{}")).partition
        batch = producer.create_batch()  # `send` refuses a record with neither key nor value; other clients do not
        batch.append(key=key, value=value, timestamp=None)
        metadata = await (await producer.send_batch(batch, settings.topics.call_events, partition=partition))
        return int(metadata.offset)
    finally:
        await producer.stop()
