"""Helpers of the processor tests: build config and events, run the processor, read what it produced."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.codec import decode, encode, encode_list
from schemas.events import CallEvent, EventType
from schemas.jobs import DeliveryJob
from schemas.requests import EventRequest, ExtensionRequests, HttpMethod
from schemas.settings import Settings
from tests.kafka import produce

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def request(
    extension: str, rid: str, type_: EventType = EventType.DIAL_IN, *, method: HttpMethod = HttpMethod.POST,
    enabled: bool = True, url: str | None = None, secrets: tuple[str, ...] = (),
) -> EventRequest:
    return EventRequest(
        id=rid, extension=extension, type=type_, method=method, url=url or f"http://127.0.0.1:9/{rid}",
        enabled=enabled, signing_secrets=secrets, modified=NOW,
    )


def call_event(extension: str, type_: EventType = EventType.DIAL_IN, *, event_id: str | None = None) -> CallEvent:
    return CallEvent(
        event_id=event_id or uuid.uuid4().hex, type=type_, occurred_at=NOW, tenant=extension.split("*")[0],
        extension=extension, CallID=f"call-{uuid.uuid4().hex[:8]}", CallerIDNum="+61299990000",
        CallerIDName="ACME Pty", CalledDID="+61280001234", CalledExtension=extension,
        CallStatus="CALLING", CallFlow="IN", CallerExtension="", CalledNumber="+61280001234",
    )


def produce_config(settings: Settings, config: dict[str, list[EventRequest]]) -> None:
    records = [(ext, encode_list(ExtensionRequests, reqs)) for ext, reqs in config.items()]
    asyncio.run(produce(settings, settings.topics.event_requests, records))


def produce_events(settings: Settings, events: Iterable[CallEvent]) -> None:
    asyncio.run(produce(settings, settings.topics.call_events, [(e.extension, encode(e)) for e in events]))


async def produce_at(settings: Settings, topic: str, records: Sequence[tuple[str, bytes, int]]) -> None:
    """Produce (key, value, timestamp_ms) records with explicit record timestamps."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value, timestamp_ms in records:
            await producer.send(topic, value=value, key=key.encode(), timestamp_ms=timestamp_ms)
        await producer.flush()
    finally:
        await producer.stop()


class TopicReader:
    """Reads a topic from the beginning, keeping every record seen so far (no consumer group)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.records: list = []

    def wait_for(self, done: Callable[[list], bool], *, timeout_s: float = 90.0, settle_s: float = 0.0) -> list:
        """Read until `done(records)`; then keep reading `settle_s` more to catch extra records."""
        return asyncio.run(self._read(done, timeout_s, settle_s))

    async def _read(self, done: Callable[[list], bool], timeout_s: float, settle_s: float) -> list:
        consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        self.records = []
        try:
            deadline = time.monotonic() + timeout_s
            settle_until: float | None = None
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for part in batch.values():
                    self.records.extend(part)
                if settle_until is None and done(self.records):
                    settle_until = time.monotonic() + settle_s
                if settle_until is not None and time.monotonic() >= settle_until:
                    return self.records
            raise AssertionError(f"{self.topic}: condition not met in {timeout_s}s; {len(self.records)} records")
        finally:
            await consumer.stop()


def jobs_of(records: list) -> list[DeliveryJob]:
    return [decode(DeliveryJob, r.value) for r in records]


def read_jobs(
    settings: Settings, done: Callable[[list[DeliveryJob]], bool], *, timeout_s: float = 90.0, settle_s: float = 0.0,
) -> list[DeliveryJob]:
    reader = TopicReader(settings, settings.topics.deliveries)
    jobs: list[DeliveryJob] = []

    def decoded(records: list) -> list[DeliveryJob]:
        if len(records) < len(jobs):  # a fresh read started over
            jobs.clear()
        jobs.extend(jobs_of(records[len(jobs):]))
        return jobs

    reader.wait_for(lambda records: done(decoded(records)), timeout_s=timeout_s, settle_s=settle_s)
    return decoded(reader.records)
