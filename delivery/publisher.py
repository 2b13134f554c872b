"""The records jobs owe (attempts, retry jobs, dead letters), sent to Kafka in batches.

aiokafka's per-record `send` costs the event loop several microseconds per record (metadata look-ups, the
pure-Python partitioner, the accumulator), a large share of one delivery. Here records owed within `linger_s`
are gathered per partition and handed to the producer as one batch each. Every record's future resolves when
its batch is acknowledged, or fails with the batch's error so that its job publishes again: nothing is
finished before Kafka has it. Records keep their order within a partition (flushes run one at a time).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from functools import lru_cache

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder

Pending = list[tuple[bytes, bytes, "asyncio.Future[None]"]]


@lru_cache(maxsize=65_536)
def partition_for(key: bytes, partitions: int) -> int:
    """The partition the Java client and aiokafka's default partitioner choose for `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class RecordPublisher:
    def __init__(self, producer: AIOKafkaProducer, *, linger_s: float = 0.002) -> None:
        self._producer = producer
        self._linger_s = linger_s
        self._pending: dict[str, Pending] = {}
        self._flusher: asyncio.Task[None] | None = None

    def publish(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[None]:
        """Queue one record; the future is done when Kafka acknowledged it."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(topic, []).append((key, value, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_while_pending())
        return future

    async def _flush_while_pending(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(self._linger_s)
                pending, self._pending = self._pending, {}
                for topic, records in pending.items():
                    await self._send_topic(topic, records)
        finally:
            self._flusher = None

    async def _send_topic(self, topic: str, records: Pending) -> None:
        try:
            count = len(await self._producer.partitions_for(topic))
        except Exception as error:  # no metadata: every record fails and its job publishes again
            _settle([future for *_, future in records], error)
            return
        by_partition: defaultdict[int, Pending] = defaultdict(list)
        for record in records:
            by_partition[partition_for(record[0], count)].append(record)
        for partition, items in by_partition.items():
            await self._send_partition(topic, partition, items)

    async def _send_partition(self, topic: str, partition: int, records: Pending) -> None:
        batch, batched = self._producer.create_batch(), []
        for record in records:
            key, value, future = record
            if batch.append(key=key, value=value, timestamp=None) is not None:
                batched.append(future)
                continue
            if batched:  # full: send it, begin another
                await self._submit(batch, topic, partition, batched)
                batch, batched = self._producer.create_batch(), []
            if batch.append(key=key, value=value, timestamp=None) is not None:
                batched.append(future)
            else:
                _settle([future], ValueError(f"a {len(value)}-byte record is larger than a whole batch"))
        if batched:
            await self._submit(batch, topic, partition, batched)

    async def _submit(self, batch: BatchBuilder, topic: str, partition: int,
                      futures: list[asyncio.Future[None]]) -> None:
        try:
            sent = await self._producer.send_batch(batch, topic, partition=partition)
        except Exception as error:
            _settle(futures, error)
            return
        sent.add_done_callback(lambda done: _settle(futures, _error_of(done)))


def _error_of(done: asyncio.Future[object]) -> BaseException | None:
    return RuntimeError("the batch was cancelled") if done.cancelled() else done.exception()


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():  # its job was cancelled meanwhile (partition revoked)
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
