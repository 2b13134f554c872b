"""Every record of a topic up to the end offsets seen at the start, read without a consumer group, so reading
moves nothing: what the dead-letter tools list and redrive from.

Records come one at a time as they are fetched, oldest first across partitions (each partition is already in
time order, so a merge of their heads is enough), and only a few thousand per partition are held at once: a DLQ
of millions is read in bounded memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.hints import topic_missing

Record: TypeAlias = ConsumerRecord[bytes, bytes]
HELD_PER_PARTITION = 500
"""A partition with this many records read but not yet passed on is not fetched from until some are."""


class TopicMissing(RuntimeError):
    """The message names the topic and what to do next."""


async def records_oldest_first(bootstrap: str, topic: str, *,
                               progress: Callable[[int, int], None] = lambda read, total: None,
                               ) -> AsyncGenerator[Record, None]:
    """The topic's records by timestamp (ties by partition, then offset); `progress(read, total)` after each
    fetch. Close it (`contextlib.aclosing`) when not read to the end."""
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
        total, read = sum(end - starts[tp] for tp, end in ends.items()), 0
        held: dict[TopicPartition, deque[Record]] = {tp: deque() for tp in ends}
        unread = set(ends)  # partitions with records still to fetch
        while held:
            if all(held.values()):  # every partition that may still have records has its next one at hand
                tp = min(held, key=lambda tp: (held[tp][0].timestamp, tp.partition))
                yield held[tp].popleft()
                if not held[tp] and tp not in unread:
                    del held[tp]
                continue
            wanted = {tp for tp in unread if len(held[tp]) < HELD_PER_PARTITION}
            consumer.pause(*(tp for tp in partitions if tp not in wanted))
            consumer.resume(*wanted)
            for tp, fetched in (await consumer.getmany(*wanted, timeout_ms=1000)).items():
                before = len(held[tp])
                held[tp].extend(r for r in fetched if r.offset < ends[tp])
                read += len(held[tp]) - before
            for tp in list(unread):
                if await consumer.position(tp) >= ends[tp]:
                    unread.discard(tp)
                    if not held[tp]:
                        del held[tp]
            progress(read, total)
    finally:
        await consumer.stop()


async def record_at(bootstrap: str, topic: str, partition: int, offset: int, *, timeout_s: float = 30.0
                    ) -> Record | None:
    """The record at this partition and offset, read directly; None when the topic has none there (raises
    TopicMissing)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()
        if topic not in await consumer.topics():
            raise TopicMissing(topic_missing(topic, bootstrap))
        consumer.subscribe([topic])
        tp = TopicPartition(topic, partition)
        if tp not in await _assigned(consumer):
            return None
        consumer.unsubscribe()
        consumer.assign([tp])
        start, end = (await consumer.beginning_offsets([tp]))[tp], (await consumer.end_offsets([tp]))[tp]
        if not start <= offset < end:
            return None
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(), timeout_s)
        return record if record.offset == offset else None
    finally:
        await consumer.stop()


async def _assigned(consumer: AIOKafkaConsumer, timeout_s: float = 30.0) -> list[TopicPartition]:
    for _ in range(int(timeout_s / 0.05)):
        if partitions := sorted(consumer.assignment()):
            return partitions
        await asyncio.sleep(0.05)
    raise TimeoutError("the topic has no partitions: is CALLAPI_TOPIC_PREFIX right? (`topics create`)")
