"""Unreadable records on `deliveries` among good jobs, with a real worker, real Kafka and a real receiver: each goes
to deliveries.dlq with its headers as a tracked job of its own, so the jobs behind it go on, and its offset is
finished only once the dead letter is acknowledged, even while the broker refuses the DLQ for a while."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer

from delivery.worker import group_id
from schemas.codec import encode
from schemas.publisher import partition_for
from schemas.settings import Settings
from tests.delivery.helpers import topic_takes
from tests.delivery.jobs import make_job
from tests.kafka import produce, read_topic, uncommitted
from tests.polling import eventually
from tests.processes import Component
from tests.receiver import Receiver

EXTENSION = "0003*288"
PAD = "p" * 300  # every dead letter is larger than the record size the broker takes while it refuses the DLQ


def unreadable(i: int) -> tuple[bytes, str]:
    """The i-th unreadable record (each one different) and the error it is dead-lettered with."""
    kinds = [
        (f"{{not json {i} {PAD}".encode(), "invalid_json"),
        (f'{{"job_id": "msg_{i}", "pad": "{PAD}"}}'.encode(), "schema_invalid"),
        (b"\xff\xfe" + f"{i} {PAD}".encode(), "invalid_json"),
    ]
    return kinds[i % len(kinds)]


@pytest.fixture
def fresh(make_settings: Callable[..., Settings]) -> Settings:
    """Topics of this test alone: the worker's producer has written to no partition of the DLQ yet."""
    return make_settings(request_timeout_s=3.0, connect_timeout_s=1.0)


async def _all_committed(settings: Settings) -> bool:
    for _ in range(200):
        if not await uncommitted(settings, group_id(settings), settings.topics.deliveries):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_unreadable_records_go_to_the_dlq_without_holding_up_the_jobs_behind_them(
    fresh: Settings, receiver: Receiver,
) -> None:
    settings = fresh
    topic = settings.topics.deliveries
    jobs = [make_job(f"{receiver.url}/good/{i}", request_id=f"r{i}", extension=EXTENSION) for i in range(12)]
    bad = dict(unreadable(i) for i in range(len(jobs)))
    records: list[tuple[str | None, bytes | None]] = []
    for job, value in zip(jobs, bad, strict=True):  # one partition: bad, good, bad, good, …
        records += [(EXTENSION, value), (EXTENSION, encode(job))]
    with Component(settings, "deliver", "--port", "0", name="delivery-invalid-records") as worker:
        await topic_takes(settings, settings.topics.deliveries_dlq, max_record_bytes=200)
        try:
            await produce(settings, topic, records)
            refused_twice = len(bad) + 1  # a line per refused letter: one more means a second round began
            assert eventually(lambda: worker.log().count("trying again") >= refused_twice), worker.log()[-3000:]
            # the DLQ still refuses, yet every job behind the unreadable records is delivered
            assert len(receiver.wait_for(len(jobs))) == len(jobs), worker.log()[-3000:]
            assert await uncommitted(settings, group_id(settings), topic) >= 1  # the dead letters are owed
        finally:
            await topic_takes(settings, settings.topics.deliveries_dlq, max_record_bytes=None)
        assert await _all_committed(settings), worker.log()[-3000:]
        assert worker.process is not None and worker.process.poll() is None  # refusals never stopped it
        letters = await read_topic(settings, settings.topics.deliveries_dlq, count=len(bad), timeout_s=30)
    assert sorted(r.path for r in receiver.received()) == sorted(f"/good/{i}" for i in range(len(jobs)))
    offsets = {value: offset for offset, (_, value) in enumerate(records)}  # a new topic: offsets count from 0
    partition = str(partition_for(EXTENSION.encode(), settings.partitions)).encode()
    assert sorted(r.value or b"" for r in letters) == sorted(bad)
    for letter in letters:
        value = letter.value or b""
        headers = dict(letter.headers)
        assert letter.key == EXTENSION.encode()
        assert (headers["error"].decode(), headers["original-topic"].decode()) == (bad[value], topic)
        assert (headers["original-partition"], headers["original-offset"]) == (partition, str(offsets[value]).encode())
        assert headers["error-detail"]
    log = worker.log()
    assert log.count("moved to the DLQ") == len(bad) and "Traceback" not in log


BROKER_MAX_MESSAGE_BYTES = 1_048_588
"""Kafka's default `message.max.bytes`; the test topics keep it."""


async def _produce_near_the_broker_limit(settings: Settings, key: bytes) -> bytes:
    """An unreadable record the broker just accepts on `deliveries` (its letter, headers added, would not fit)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                                max_request_size=2 * BROKER_MAX_MESSAGE_BYTES)
    await producer.start()
    try:
        value = b"{not json " + b"p" * (BROKER_MAX_MESSAGE_BYTES - 125)
        await (await producer.send(settings.topics.deliveries, key=key, value=value))
        return value
    finally:
        await producer.stop()


async def test_an_unreadable_record_too_large_to_letter_whole_is_lettered_cut_and_the_partition_goes_on(
    fresh: Settings, receiver: Receiver,
) -> None:
    settings = fresh
    value = await _produce_near_the_broker_limit(settings, EXTENSION.encode())
    after = make_job(f"{receiver.url}/after", request_id="r-after", extension=EXTENSION)
    await produce(settings, settings.topics.deliveries, [(EXTENSION, encode(after))])  # behind it, same partition
    with Component(settings, "deliver", "--port", "0", name="delivery-huge-record") as worker:
        assert [r.path for r in receiver.wait_for(1)] == ["/after"], worker.log()[-3000:]
        assert await _all_committed(settings), worker.log()[-3000:]
        (letter,) = await read_topic(settings, settings.topics.deliveries_dlq, count=1, timeout_s=30)
    headers = dict(letter.headers)
    assert headers["error"] == b"invalid_json" and int(headers["original-value-size"]) == len(value)
    assert len(letter.value or b"") < len(value) and value.startswith(letter.value or b"")
    assert "trying again" not in worker.log()
