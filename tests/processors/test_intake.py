"""The processor's intake against the real broker: records the stream skipped are read from Kafka and taken in
order; duplicates, foreign partitions and empty gaps (transaction markers, retention) take nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete

from processors import metrics
from processors.intake import Intake, Record
from processors.positions import Positions
from processors.topology import app_id
from schemas.settings import Settings
from tests.kafka import read_topic


class Stage:
    """An intake on the module's call-events with a generation and an assignment the test sets."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topics.call_events
        self.group = app_id(settings) + uuid.uuid4().hex[:6]
        self.generation = 1
        self.owned = {0, 1, 2, 3}
        self.positions = Positions()
        self.intake = Intake(
            settings=settings, topic=self.topic, group=self.group, positions=self.positions,
            generation=lambda: self.generation, owned=lambda: self.owned,
        )

    async def admit(self, record: Record) -> list[int]:
        """The offsets taken for `record` as the agent takes them (`take_next`, else `admit`), each finished at once."""
        next_one = self.intake.take_next(record)
        taken = [next_one] if next_one is not None else [t async for t in self.intake.admit(record)]
        for item in taken:
            self.positions.finish(item.ticket)
        return [item.record.offset for item in taken]

    async def commit(self, partition: int, offset: int) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, group_id=self.group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(self.topic, partition)
            consumer.assign([tp])
            await consumer.commit({tp: offset})
        finally:
            await consumer.stop()

    async def records(self, partition: int) -> dict[int, Record]:
        """The partition's records on the broker, by offset."""
        found = await read_topic(self.settings, self.topic, idle_s=1.0)
        return {r.offset: Record(r.partition, r.offset, r.key, r.value, r.timestamp / 1000)
                for r in found if r.partition == partition}


@pytest.fixture
async def stage(settings: Settings) -> AsyncIterator[Stage]:
    staged = Stage(settings)
    await staged.intake.start()
    try:
        yield staged
    finally:
        await staged.intake.stop()


async def _produce(settings: Settings, partition: int, count: int, *, transactional: bool = False) -> None:
    """`count` records on one partition; transactional: each in its own transaction (a marker after each)."""
    extra = {"transactional_id": uuid.uuid4().hex} if transactional else {}
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                                **extra)
    await producer.start()
    try:
        for n in range(count):
            value = f"record {n}".encode()
            if transactional:
                async with producer.transaction():
                    await producer.send(settings.topics.call_events, value, key=b"k", partition=partition)
            else:
                await producer.send_and_wait(settings.topics.call_events, value, key=b"k", partition=partition)
    finally:
        await producer.stop()


def _gaps(result: str) -> float:
    return metrics.GAPS.labels(result=result)._value.get()  # type: ignore[attr-defined,no-any-return]


async def test_records_the_stream_skipped_are_read_from_the_broker_and_taken_before_the_event(
    stage: Stage,
) -> None:
    await _produce(stage.settings, 0, 10)
    await stage.commit(0, 0)
    records = await stage.records(0)
    for offset in (0, 1, 2):
        assert await stage.admit(records[offset]) == [offset]
    filled = _gaps("filled")
    taken = [t async for t in stage.intake.admit(records[7])]  # the stream skipped 3 to 6
    assert [(t.record.offset, t.record.value) for t in taken] == [(o, records[o].value) for o in range(3, 8)]
    assert _gaps("filled") == filled + 1
    for item in taken:
        stage.positions.finish(item.ticket)
    assert await stage.admit(records[5]) == []  # fetched again after a seek: already taken
    assert stage.positions.committable(generation=1)[0] == 8


async def test_a_new_generation_starts_from_the_groups_committed_offset_and_old_acks_do_not_count(
    stage: Stage,
) -> None:
    await _produce(stage.settings, 1, 6)
    await stage.commit(1, 0)
    records = await stage.records(1)
    old = [t async for t in stage.intake.admit(records[0])]
    stage.generation = 2
    await stage.commit(1, 3)  # another worker owned the partition meanwhile and processed 0 to 2
    assert await stage.admit(records[2]) == []
    for item in old:
        stage.positions.finish(item.ticket)
    assert stage.positions.committable(generation=2)[1] == 3
    assert await stage.admit(records[3]) == [3]
    assert stage.positions.committable(generation=2)[1] == 4
    assert stage.positions.committable(generation=1) == {}


async def test_a_partition_no_longer_owned_takes_nothing(stage: Stage) -> None:
    await _produce(stage.settings, 2, 1)
    records = await stage.records(2)
    stage.owned = {0, 1, 3}
    assert await stage.admit(records[max(records)]) == []


async def test_gaps_the_broker_shows_empty_take_only_the_event(stage: Stage) -> None:
    await _produce(stage.settings, 3, 3, transactional=True)  # records 0, 2, 4: markers at 1, 3, 5
    await stage.commit(3, 0)
    records = await stage.records(3)
    assert sorted(records) == [0, 2, 4]
    empty = _gaps("empty")
    assert await stage.admit(records[0]) == [0]
    assert await stage.admit(records[2]) == [2]
    assert await stage.admit(records[4]) == [4]
    assert _gaps("empty") == empty + 2
    assert stage.positions.committable(generation=1)[3] == 5


async def test_records_removed_by_retention_before_the_committed_offset_are_an_empty_gap(stage: Stage) -> None:
    stage.owned = {2}
    await _produce(stage.settings, 2, 6)
    await stage.commit(2, 0)
    tp = TopicPartition(stage.topic, 2)
    admin = AIOKafkaAdminClient(bootstrap_servers=stage.settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_records({tp: RecordsToDelete(before_offset=4)})
    finally:
        await admin.close()
    records = await stage.records(2)
    assert min(records) == 4
    assert await stage.admit(records[4]) == [4]
    assert stage.positions.committable(generation=1)[2] == 5


async def test_only_the_next_offset_of_a_lane_of_this_generation_is_taken_at_once(stage: Stage) -> None:
    stage.owned = {1}
    await _produce(stage.settings, 1, 4)
    records = await stage.records(1)
    first, second, third, fourth = sorted(records)[-4:]
    await stage.commit(1, first)
    assert stage.intake.take_next(records[first]) is None  # the lane is not begun: `admit` begins it
    assert await stage.admit(records[first]) == [first]
    taken = stage.intake.take_next(records[second])
    assert taken is not None and taken.record.offset == second
    assert stage.intake.take_next(records[second]) is None  # a duplicate
    assert stage.intake.take_next(records[fourth]) is None  # a gap: `admit` reads the record before it
    stage.generation = 2
    assert stage.intake.take_next(records[third]) is None  # the lane of an earlier generation
