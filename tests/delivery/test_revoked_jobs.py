"""Jobs a revocation cancels before their tasks ran give their in-flight slots back (the real consumer shell,
with an unconnected aiokafka consumer: nothing here reaches Kafka)."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from delivery.consumer import JobConsumer
from schemas.codec import encode
from schemas.errors import InvalidRecord
from schemas.jobs import DeliveryJob
from tests.delivery.jobs import make_job


def _record(tp: TopicPartition, offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic=tp.topic, partition=tp.partition, offset=offset, timestamp=0, timestamp_type=0,
                          key=b"0003*210", value=value, checksum=None, serialized_key_size=8,
                          serialized_value_size=len(value), headers=())


async def test_jobs_cancelled_before_they_ran_free_their_slots() -> None:
    handled: list[DeliveryJob] = []

    async def handle(job: DeliveryJob, sending: Callable[[], None]) -> None:
        handled.append(job)

    async def invalid(record: ConsumerRecord[bytes, bytes], error: InvalidRecord) -> None:
        raise AssertionError("every record here is a job")

    consumer = AIOKafkaConsumer()
    jobs = JobConsumer(consumer=consumer, handle=handle, invalid=invalid, max_in_flight=3, drain_s=1.0,
                       commit_interval_s=60.0)
    tp = TopicPartition("deliveries", 0)
    await jobs.on_partitions_assigned([tp])
    value = encode(make_job("http://127.0.0.1:9/hook"))
    await jobs._dispatch(tp, [_record(tp, offset, value) for offset in (1, 2, 3)])  # no pause between them
    assert jobs.in_flight == 3
    await jobs.on_partitions_revoked([tp])  # before the jobs' tasks had a turn: cancelled unstarted
    await consumer.stop()
    assert not handled
    assert jobs.in_flight == 0  # the slots are free for the partitions still owned
