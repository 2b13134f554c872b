"""Test helpers that talk to the real broker: produce records, read a topic from the beginning; a broker of a
test's own, to kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from deploy.local.kafka import Kafka
from schemas.ops import free_port
from schemas.settings import Settings


@contextlib.contextmanager
def broker_of_its_own(settings: Settings, folder: Path) -> Iterator[Kafka]:
    """A real broker on free ports with its data in `folder` (the shared one stays up), SIGKILLed at the end."""
    kafka = Kafka(stack_dir=folder, cache_dir=settings.cache_dir / "maven", port=free_port(),
                  controller_port=free_port())
    kafka.up()
    try:
        yield kafka
    finally:
        crash(kafka)


def crash(kafka: Kafka) -> None:
    """SIGKILL the broker and reap it (Service.stop would wait out its timeout on the un-reaped child)."""
    pid = kafka.service.pid()
    if pid is not None:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    kafka.service.stop(timeout_s=1)


async def produce(
    settings: Settings, topic: str, records: Sequence[tuple[str | None, bytes | None]],
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, value=value, key=key.encode() if key is not None else None, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def read_topic(
    settings: Settings, topic: str, *, count: int | None = None, timeout_s: float = 30.0, idle_s: float = 2.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read `topic` from the beginning: until `count` records arrived, or (count None) until idle."""
    consumer = AIOKafkaConsumer(  # no group: every partition, from the beginning
        topic, bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout_s
        last_seen = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
            if any(batch.values()):
                last_seen = time.monotonic()
            if count is not None and len(records) >= count:
                break
            if count is None and time.monotonic() - last_seen > idle_s:
                break
        return records
    finally:
        await consumer.stop()


def read_topic_sync(settings: Settings, topic: str, **kwargs: object) -> list[ConsumerRecord[bytes, bytes]]:
    return asyncio.run(read_topic(settings, topic, **kwargs))  # type: ignore[arg-type]


async def uncommitted(settings: Settings, group: str, topic: str) -> int:
    """Records of `topic` past the consumer group's committed offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(settings.partitions)])
        return sum([end - (await consumer.committed(tp) or 0) for tp, end in ends.items()])
    finally:
        await consumer.stop()
