"""Records sent to Kafka in batches: the processor's jobs and dead letters, the workers' attempts and retries.

aiokafka's per-record `send` costs the event loop tens of microseconds per record (metadata look-ups, the
pure-Python partitioner, the accumulator, a future per record), a large share of processing one event or
delivering one job. Here records owed within `linger_s` are gathered per partition and handed to the
producer as one batch each. Every record's future resolves when its batch is acknowledged, or fails with
the batch's error (a KafkaError) so that its owner publishes again: nothing is finished before Kafka has
it. Any other error is a bug; it fails the futures too rather than leave their owners waiting forever.
Records keep their order within a partition (flushes run one at a time).
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from functools import lru_cache

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder

Headers = list[tuple[str, bytes]]
Pending = list[tuple[bytes | None, bytes | None, Headers, "asyncio.Future[None]"]]


@lru_cache(maxsize=65_536)
def partition_for(key: bytes, partitions: int) -> int:
    """The partition the Java client and aiokafka's default partitioner choose for `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def _partition_of(key: bytes | None, partitions: int) -> int:
    return random.randrange(partitions) if key is None else partition_for(key, partitions)


class RecordPublisher:
    def __init__(self, producer: AIOKafkaProducer, *, linger_s: float = 0.002) -> None:
        self._producer = producer
        self._linger_s = linger_s
        self._pending: dict[str, Pending] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # looked up once: each look-up is a getpid() system call

    def publish(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None,
    ) -> asyncio.Future[None]:
        """Queue one record; the future is done when Kafka acknowledged it. A keyless record goes to a random
        partition, as with aiokafka's default partitioner."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.setdefault(topic, []).append((key, value, headers or [], future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_while_pending())
        return future

    async def _flush_while_pending(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(self._linger_s)
                pending, self._pending = self._pending, {}
                for topic, records in pending.items():
                    try:
                        await self._send_topic(topic, records)
                    except Exception as error:  # no metadata (or a bug): the owners hear of it and publish again
                        _settle([future for *_, future in records], error)
        finally:
            self._flusher = None

    async def _send_topic(self, topic: str, records: Pending) -> None:
        count = len(await self._producer.partitions_for(topic))
        by_partition: defaultdict[int, Pending] = defaultdict(list)
        for record in records:
            by_partition[_partition_of(record[0], count)].append(record)
        for partition, items in by_partition.items():
            await self._send_partition(topic, partition, items)

    async def _send_partition(self, topic: str, partition: int, records: Pending) -> None:
        batch, batched = self._producer.create_batch(), []
        for key, value, headers, future in records:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is not None:
                batched.append(future)
                continue
            if batched:  # full: send it, begin another
                await self._submit(batch, topic, partition, batched)
                batch, batched = self._producer.create_batch(), []
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is not None:
                batched.append(future)
            else:
                size = len(value or b"")
                _settle([future], MessageSizeTooLargeError(f"a {size}-byte record is larger than a whole batch"))
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
    return KafkaError("the batch was cancelled") if done.cancelled() else done.exception()


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():  # its job was cancelled meanwhile (partition revoked)
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
