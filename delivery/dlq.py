"""Dead letters on `deliveries.dlq`: read them, filter them, put them back on `deliveries`.

The topic is read from the beginning up to the end offsets seen at the start, without a consumer group,
so listing never moves anything. Records that were never readable jobs are listed with their error header.
Redriven letters are recorded in PostgreSQL (delivery/redrives.py), so a second redrive can leave them out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from delivery.errors import TopicMissing
from delivery.records import redriven
from delivery.redrives import LetterKey, record_redriven, redriven_at
from schemas.codec import decode, encode
from schemas.errors import InvalidRecord
from schemas.extensions import canonical_extension, organization_code
from schemas.hints import topic_missing
from schemas.jobs import DeliveryJob
from schemas.settings import Settings

REDACTED = "whsec_…(redacted)"
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    dead_at: datetime
    job: DeliveryJob | None
    error: str
    raw: bytes
    redriven_at: datetime | None = None

    @property
    def where(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def key(self) -> LetterKey | None:
        """What a redrive records (unreadable letters are never redriven)."""
        return None if self.job is None else (self.partition, self.offset, self.job.job_id)


@dataclass(frozen=True)
class Filters:
    tenant: str | None = None
    extension: str | None = None
    request_id: str | None = None
    job_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        """Refuse a malformed filter at once, rather than let it match nothing (raises ValueError)."""
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(f"--since {self.since:%Y-%m-%dT%H:%M:%SZ} is not before --until "
                             f"{self.until:%Y-%m-%dT%H:%M:%SZ}: no letter can match (swapped?)")
        if self.tenant is not None:
            organization_code(self.tenant)
        if self.extension is not None:
            canonical_extension(self.extension)

    def match(self, letter: DeadLetter) -> bool:
        job = letter.job
        wanted = [
            (self.since is None or letter.dead_at >= self.since),
            (self.until is None or letter.dead_at < self.until),
        ]
        if any(v is not None for v in (self.tenant, self.extension, self.request_id, self.job_id)):
            if job is None:
                return False
            wanted += [
                self.tenant is None or job.tenant.lstrip("0") == self.tenant.lstrip("0"),
                self.extension is None or job.extension == canonical_extension(self.extension),
                self.request_id is None or job.request_id == self.request_id,
                self.job_id is None or job.job_id == self.job_id,
            ]
        return all(wanted)


def parse_letter(partition: int, offset: int, timestamp_ms: int, value: bytes | None,
                 headers: Iterable[tuple[str, bytes | None]]) -> DeadLetter:
    dead_at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    try:
        job = decode(DeliveryJob, value or b"")
    except InvalidRecord as error:
        header = (dict(headers).get("error") or b"").decode(errors="replace")  # a header's value may be null
        return DeadLetter(partition, offset, dead_at, None, header or error.reason, value or b"")
    return DeadLetter(partition, offset, dead_at, job, job.last_error or "", value or b"")


def redacted(job: DeliveryJob) -> dict[str, Any]:
    """The job as JSON-ready data, without its signing secrets."""
    data = job.model_dump(mode="json")
    data["signing_secrets"] = [REDACTED for _ in job.signing_secrets]
    return data


async def read_dead_letters(settings: Settings, filters: Filters) -> list[DeadLetter]:
    topic = settings.topics.deliveries_dlq
    consumer = AIOKafkaConsumer(  # no group: every partition, nothing committed
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
    )
    try:
        await consumer.start()  # subscribed only once the topic is known to exist: start() would wait for it forever
        if topic not in await consumer.topics():
            raise TopicMissing(topic_missing(topic, settings.kafka_bootstrap))
        consumer.subscribe([topic])
        partitions = await _assigned(consumer)
        await consumer.seek_to_beginning(*partitions)
        ends = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items() if end > 0}
        letters: list[DeadLetter] = []
        while await _behind(consumer, ends):
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < ends.get(tp, 0):
                        letters.append(parse_letter(tp.partition, r.offset, r.timestamp, r.value, r.headers))
        return sorted((x for x in letters if filters.match(x)), key=lambda x: (x.dead_at, x.partition, x.offset))
    finally:
        await consumer.stop()


async def _assigned(consumer: AIOKafkaConsumer, timeout_s: float = 30.0) -> list[TopicPartition]:
    for _ in range(int(timeout_s / 0.05)):
        if partitions := sorted(consumer.assignment()):
            return partitions
        await asyncio.sleep(0.05)
    raise TimeoutError("the DLQ topic has no partitions: is CALLAPI_TOPIC_PREFIX right? (`topics create`)")


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


async def with_redrives(settings: Settings, letters: list[DeadLetter]) -> list[DeadLetter]:
    """The letters with the time each was redriven, if it was (raises RedrivesUnavailable)."""
    keys = [key for letter in letters if (key := letter.key) is not None]
    when = await asyncio.to_thread(redriven_at, settings.database_url, settings.topics.deliveries_dlq, keys)
    return [replace(letter, redriven_at=when.get(letter.key)) if letter.key else letter for letter in letters]


async def redrive(settings: Settings, letters: list[DeadLetter], *, progress: Callable[[], None],
                  chunk: int = 500) -> int:
    """Put every readable letter back on `deliveries` and record it as redriven; returns how many went.

    `progress` is called once per letter done (sent and recorded, or unreadable). Cancelled (Ctrl-C), the
    chunk in flight is finished first, so the letters done are exactly those `progress` counted."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    sent = 0
    try:
        for start in range(0, len(letters), chunk):
            sent += await _uninterrupted(_redrive_chunk(settings, producer, letters[start:start + chunk], progress))
    finally:
        await producer.stop()
    return sent


async def _redrive_chunk(settings: Settings, producer: AIOKafkaProducer, part: list[DeadLetter],
                         progress: Callable[[], None]) -> int:
    readable = [(letter.job, key) for letter in part if letter.job and (key := letter.key)]
    await asyncio.gather(*[await _send_redriven(settings, producer, job) for job, _ in readable])
    if readable:  # only once Kafka has them: a crash before this repeats them, never loses them
        await asyncio.to_thread(record_redriven, settings.database_url, settings.topics.deliveries_dlq,
                                [key for _, key in readable], retention_h=settings.dlq_retention_h)
    for _ in part:
        progress()
    return len(readable)


async def _uninterrupted(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` to its end even when the caller is cancelled, then pass the cancellation on: stopped
    half-way, a chunk would be on `deliveries` without being recorded, and go twice on the next redrive."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        log.warning("interrupted: finishing the letters in flight, then stopping (Ctrl-C again stops at once)")
        await task
        raise


async def _send_redriven(settings: Settings, producer: AIOKafkaProducer, job: DeliveryJob) -> asyncio.Future[Any]:
    again = redriven(job, now=datetime.now(UTC))
    return await producer.send(settings.topics.deliveries, encode(again), key=again.extension.encode())
