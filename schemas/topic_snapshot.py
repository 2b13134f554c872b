"""Every record of a topic up to the end offsets seen at the start, read without a consumer group, so reading
moves nothing: what the dead-letter tools list and redrive from."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.hints import topic_missing

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class TopicMissing(RuntimeError):
    """The message names the topic and what to do next."""


async def read_to_end(bootstrap: str, topic: str, *, progress: Callable[[int, int], None] = lambda done, total: None,
                      ) -> list[Record]:
    """The topic's records in partition and offset order; `progress(read, total)` after each fetch."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        await consumer.start()  # subscribed only once the topic is known to exist: start() would wait for it forever
        if topic not in await consumer.topics():
            raise TopicMissing(topic_missing(topic, bootstrap))
        consumer.subscribe([topic])
        partitions = await _assigned(consumer)
        await consumer.seek_to_beginning(*partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items() if end > starts[tp]}
        total = sum(end - starts[tp] for tp, end in ends.items())
        records: list[Record] = []
        while await _behind(consumer, ends):
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, fetched in batch.items():
                records.extend(r for r in fetched if r.offset < ends.get(tp, 0))
            progress(len(records), total)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def _assigned(consumer: AIOKafkaConsumer, timeout_s: float = 30.0) -> list[TopicPartition]:
    for _ in range(int(timeout_s / 0.05)):
        if partitions := sorted(consumer.assignment()):
            return partitions
        await asyncio.sleep(0.05)
    raise TimeoutError("the topic has no partitions: is CALLAPI_TOPIC_PREFIX right? (`topics create`)")


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False
