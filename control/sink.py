"""The delivery-log sink: `delivery-attempts` → the partitioned delivery_log table.

Consumes in a consumer group, writes a batch in one transaction (COPY; a batch read again skips the rows already
there), and commits the batch's offsets only after the database commit: at least once, and a repeat changes nothing.
While a batch is written the next one is read (up to BATCH_RECORDS): a record left in aiokafka's buffer for over
0.1 s makes it fetch that broker's other partitions without the record's one, and the next attempt there then
waits for that fetch to end, up to fetch_max_wait_ms (500 ms), before it can reach the delivery log.
Kafka or PostgreSQL failures are retried; a missing `delivery-attempts` topic (a wrong CALLAPI_TOPIC_PREFIX, or
`topics create` not run) stops the sink at once, exit 1, with the one line the other commands print.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeAlias

import psycopg
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import Counter, Gauge

from control import partitions
from schemas.attempts import DeliveryAttempt
from schemas.codec import decode
from schemas.errors import InvalidRecord
from schemas.hints import topic_missing
from schemas.retry_notices import RetryNotices, failure_reason
from schemas.settings import Settings

log = logging.getLogger(__name__)

BATCH_RECORDS = 2000
RETENTION_CHECK_S = 3600.0
RETRY_DELAY_S = 1.0
TOPIC_CHECKS = 3
TOPIC_CHECK_PAUSE_S = 1.0
APPLICATION_NAME = "callapi-sink"

ROWS = Counter("callapi_sink_attempts_total", "delivery attempts written to the delivery log")
INVALID = Counter("callapi_sink_invalid_total", "records on delivery-attempts that are not a DeliveryAttempt")
FAILURES = Counter("callapi_sink_failures_total", "sink rounds that failed and will be retried")
PENDING = Gauge("callapi_sink_pending_attempts", "delivery attempts read from Kafka, not yet in the delivery log")
READ_WAIT_MS = 500  # an idle sink waits this long per fetch round: no busy loop

Records: TypeAlias = "list[ConsumerRecord[bytes, bytes]]"

# A batch is COPied straight into the table: the cheapest way in for the sink and for PostgreSQL (bench/delivery_log.py
# and the README compare it with one INSERT per row). A batch read again (after a crash or a rebalance) holds rows
# already there; that COPY fails on the primary key, and the batch goes through a session-private staging table and
# ON CONFLICT DO NOTHING instead.
COLUMNS = ("job_id, attempt, event_id, event_type, tenant, extension, request_id, outcome, status_code, error,"
           " duration_ms, attempted_at")
COPY = f"COPY delivery_log ({COLUMNS}) FROM STDIN"
STAGE = "CREATE TEMP TABLE IF NOT EXISTS delivery_log_in (LIKE delivery_log) ON COMMIT DELETE ROWS"
COPY_STAGED = f"COPY delivery_log_in ({COLUMNS}) FROM STDIN"
MOVE_STAGED = f"INSERT INTO delivery_log ({COLUMNS}) SELECT {COLUMNS} FROM delivery_log_in ON CONFLICT DO NOTHING"


def group_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}delivery-log-sink"


def decode_attempts(records: Iterable[ConsumerRecord[bytes, bytes]]) -> list[DeliveryAttempt]:
    """The valid attempts; an invalid record is logged with its position and counted, never silently lost."""
    attempts = []
    for record in records:
        try:
            attempts.append(decode(DeliveryAttempt, record.value or b""))
        except InvalidRecord as error:
            INVALID.inc()
            log.warning("skipping invalid record %s[%d]@%d: %s", record.topic, record.partition, record.offset, error)
    return attempts


def storable(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL, and event ids come from PBXs: keep the row, mark the character."""
    return text.replace("\x00", "\ufffd") if text is not None else None


def row_of(a: DeliveryAttempt) -> tuple[Any, ...]:
    return (storable(a.job_id), a.attempt, storable(a.event_id), a.event_type.slug, storable(a.tenant), a.extension,
            storable(a.request_id), a.outcome.value, a.status_code, storable(a.error), a.duration_ms, a.attempted_at)


class LogWriter:
    """Writes attempts, creating each day's partition the first time it is needed."""

    def __init__(self, *, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.days: set[date] = set()

    async def write(self, attempts: list[DeliveryAttempt]) -> None:
        if not attempts:
            return
        for day in {a.attempted_at.astimezone(UTC).date() for a in attempts} - self.days:
            await partitions.ensure_partition(self.conn, day)
            self.days.add(day)
        rows = [row_of(a) for a in attempts]
        try:
            async with self.conn.transaction():
                await self._copy(COPY, rows)
        except psycopg.errors.UniqueViolation:
            await self.conn.execute(STAGE)
            async with self.conn.transaction():
                await self._copy(COPY_STAGED, rows)
                await self.conn.execute(MOVE_STAGED)
        ROWS.inc(len(attempts))

    async def _copy(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        async with self.conn.cursor().copy(statement) as copy:
            for row in rows:
                await copy.write_row(row)

    async def drop_expired(self, retention_days: int) -> None:
        dropped = await partitions.drop_expired(self.conn, today=datetime.now(UTC).date(),
                                                retention_days=retention_days)
        for name in dropped:
            log.info("dropped delivery-log partition %s (older than %d days)", name, retention_days)
            self.days.discard(partitions.partition_day(name) or date.min)


async def _subscribe(consumer: AIOKafkaConsumer, settings: Settings) -> None:
    """Subscribe once the topic is known to exist: subscribed to a missing topic, aiokafka only logs and waits for
    it forever. A topic created a moment ago may not be in every broker's metadata yet, so it is asked again."""
    topic = settings.topics.delivery_attempts
    for check in range(1, TOPIC_CHECKS + 1):
        if topic in await consumer.topics():
            consumer.subscribe([topic])
            return
        if check < TOPIC_CHECKS:
            await asyncio.sleep(TOPIC_CHECK_PAUSE_S)
    raise SystemExit(topic_missing(topic, settings.kafka_bootstrap))  # exit 1 with this one line, no traceback


async def _sink_connected(settings: Settings, stop: asyncio.Event, on_round: Callable[[], None]) -> None:
    # PostgreSQL first: without it there is nothing to do, and joining the group each retry would churn it
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True,
                                                     application_name=APPLICATION_NAME) as conn:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=group_id(settings), enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        try:
            await consumer.start()  # inside: a failed start leaves connections behind too
            await _subscribe(consumer, settings)
            writer, checked_at = LogWriter(conn=conn), 0.0
            following: Records = []
            while not stop.is_set():
                if time.monotonic() - checked_at > RETENTION_CHECK_S:
                    await writer.drop_expired(settings.delivery_log_retention_days)
                    checked_at = time.monotonic()
                batch = following or _records(await consumer.getmany(timeout_ms=READ_WAIT_MS,
                                                                      max_records=BATCH_RECORDS))
                following = await _write_reading_on(consumer, writer, batch) if batch else []
                if offsets := _next_offsets(batch, still_assigned=consumer.assignment()):
                    await consumer.commit(offsets)  # only after the rows are committed, and only theirs
                on_round()
        finally:
            PENDING.set(0)
            await consumer.stop()


def _records(fetched: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]) -> Records:
    return [record for part in fetched.values() for record in part]


async def _write_reading_on(consumer: AIOKafkaConsumer, writer: LogWriter, batch: Records) -> Records:
    """Write `batch`; meanwhile read what follows it (up to BATCH_RECORDS), so that no record waits in aiokafka's
    buffer (see the top of this module). Returns what was read, to be written next."""
    following: Records = []
    PENDING.set(len(batch))
    write = asyncio.ensure_future(writer.write(decode_attempts(batch)))
    read: asyncio.Future[dict[TopicPartition, Records]] | None = None
    try:
        while not write.done() and len(following) < BATCH_RECORDS:
            read = asyncio.ensure_future(consumer.getmany(timeout_ms=READ_WAIT_MS,
                                                          max_records=BATCH_RECORDS - len(following)))
            await asyncio.wait({write, read}, return_when=asyncio.FIRST_COMPLETED)
            if read.done():
                following += _records(read.result())
                PENDING.set(len(batch) + len(following))
        await write
    finally:
        for task in (write, read):  # cancelled while waiting: a getmany cancelled before it returns took nothing
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    PENDING.set(len(following))
    return following


def _next_offsets(batch: Records, *, still_assigned: set[TopicPartition]) -> dict[TopicPartition, OffsetAndMetadata]:
    """Where each partition of `batch` goes on from. A partition taken away meanwhile is left to its new owner,
    which reads its records again from the last commit (rows already there are skipped)."""
    offsets: dict[TopicPartition, int] = {}
    for record in batch:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return {tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items() if tp in still_assigned}


async def run_sink(settings: Settings, *, stop: asyncio.Event, on_round: Callable[[], None] = lambda: None) -> None:
    """Sink until `stop` is set; on failure, reconnect and resume from the last committed offsets. Failures are
    logged saying what to check: at once, then at most every WARN_EVERY_S while they last, and once when the sink
    works again."""
    notices = RetryNotices()

    def round_done() -> None:
        notices.log_success(log, "sink")
        on_round()

    while not stop.is_set():
        try:
            await _sink_connected(settings, stop, round_done)
        except (psycopg.Error, KafkaError, OSError) as error:
            FAILURES.inc()
            reason = failure_reason(error, bootstrap=settings.kafka_bootstrap)
            quiet_rounds = notices.failed(reason, time.monotonic())
            if quiet_rounds is not None:
                log.warning("sink round failed: %s; resuming from the committed offsets, retrying every %.0f s%s",
                            reason, RETRY_DELAY_S,
                            notices.repeat_note(quiet_rounds))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_DELAY_S)
