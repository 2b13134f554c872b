"""The outbox relay: committed changes → each affected extension's full list on `event-requests`; queued test
notifications → `deliveries`.

Wakes on NOTIFY callapi_outbox (a short poll is the fallback), reads unsent outbox rows in id order, takes
a transaction-scoped advisory lock per extension (so replicas never publish an older list after a newer
one), publishes the lists, waits for the acks, and only then marks those rows sent: at least once, and a
rolled-back change never becomes visible. Expired signing secrets are swept here too, which republishes
the lists they were in, and so are expired access tokens and the web UI's expired, never-shown new secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Histogram

from control.errors import Unavailable
from control.kafka import make_producer, publish_lists
from schemas.hints import topic_missing
from schemas.request_rows import publishable_requests_async
from schemas.retry_notices import RetryNotices, failure_reason
from schemas.settings import Settings

log = logging.getLogger(__name__)

BATCH_ROWS = 500
LOCK_CLASS = 0x43414C4C  # advisory lock class of "an extension's published list"
SWEEP_INTERVAL_S = 5.0
OUTBOX_KEEP_S = 86_400
RETRY_DELAY_S = 1.0
CHANNEL = "callapi_outbox"
APPLICATION_NAME = "callapi-relay"

PUBLISHED = Counter("callapi_relay_published_total", "extension lists published to event-requests")
ROWS = Counter("callapi_relay_outbox_rows_total", "outbox rows marked sent")
TESTS = Counter("callapi_relay_test_notifications_total", "test notifications published to deliveries")
FAILURES = Counter("callapi_relay_failures_total", "relay rounds that failed and will be retried")
REFUSED = Counter("callapi_relay_refused_requests_total",
                  "stored requests left out of their extension's published list: the model refuses them")
LAG = Histogram("callapi_relay_lag_seconds", "outbox row written → its list acked by Kafka",
                buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

Conn = psycopg.AsyncConnection[Any]


async def publish_extensions(conn: Conn, producer: AIOKafkaProducer, topic: str, extensions: list[str]) -> None:
    """Inside the caller's transaction: lock each extension (sorted: no deadlocks), read and publish its list."""
    for extension in sorted(extensions):
        await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, extension))
    # Under the locks, so a list sent after `topics grow` added partitions lands on its key's new partition, after
    # the resync's copy, and not on the old one the producer's cached metadata (up to 5 min old) would pick.
    await producer.client.force_metadata_update()
    lists = {}
    for extension in sorted(extensions):
        lists[extension], refused = await publishable_requests_async(conn, extension)
        for row in refused:
            REFUSED.inc()
            log.error("request %s of extension %s is left out of its published list, its stored form is invalid "
                      "(%s): edit it through the Control API or the UI, or remove it", row.request_id, extension,
                      row.reason())
    await publish_lists(producer, topic, lists)
    PUBLISHED.inc(len(lists))


async def relay_batch(conn: Conn, producer: AIOKafkaProducer, topic: str, *, limit: int = BATCH_ROWS) -> int:
    """Publish for up to `limit` unsent outbox rows and mark them sent; returns how many rows were handled."""
    async with conn.transaction():
        cursor = await conn.execute(
            "SELECT id, extension, extract(epoch FROM created_at) FROM outbox WHERE sent_at IS NULL"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED", (limit,),
        )
        rows = await cursor.fetchall()
        if not rows:
            return 0
        await publish_extensions(conn, producer, topic, list({row[1] for row in rows}))
        await conn.execute("UPDATE outbox SET sent_at = now() WHERE id = ANY(%s)", ([row[0] for row in rows],))
    now = time.time()
    for row in rows:
        LAG.observe(max(0.0, now - float(row[2])))
    ROWS.inc(len(rows))
    return len(rows)


async def relay_tests(conn: Conn, producer: AIOKafkaProducer, topic: str, *, limit: int = BATCH_ROWS) -> int:
    """Publish up to `limit` queued test notifications to `deliveries` (keyed by extension, as the processor's
    jobs are) and mark them sent once acked; returns how many."""
    async with conn.transaction():
        cursor = await conn.execute(
            "SELECT id, extension, job FROM test_notifications WHERE sent_at IS NULL"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED", (limit,),
        )
        rows = await cursor.fetchall()
        if not rows:
            return 0
        await asyncio.gather(*[await producer.send(topic, job.encode(), key=extension.encode())
                               for _, extension, job in rows])
        await conn.execute("UPDATE test_notifications SET sent_at = now() WHERE id = ANY(%s)",
                           ([row[0] for row in rows],))
    TESTS.inc(len(rows))
    return len(rows)


async def sweep(conn: Conn) -> None:
    """Delete rotated-out secrets past their expiry (queueing their extensions for republishing), outbox
    rows sent more than OUTBOX_KEEP_S ago, expired access tokens (a row per sign-in would pile up), and expired
    signing secrets the web UI never showed."""
    await conn.execute(
        "WITH gone AS (DELETE FROM signing_secrets WHERE expires_at <= now() RETURNING extension_id)"
        " INSERT INTO outbox (extension)"
        " SELECT DISTINCT e.number FROM gone JOIN extensions e ON e.id = gone.extension_id"
    )
    await conn.execute("DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => %s)", (OUTBOX_KEEP_S,))
    await conn.execute("DELETE FROM test_notifications WHERE sent_at < now() - make_interval(secs => %s)",
                       (OUTBOX_KEEP_S,))
    await conn.execute("DELETE FROM access_tokens WHERE expires_at <= now()")
    # a web UI signing secret never shown: a secret sits in the database no longer than its flash could show it
    await conn.execute("DELETE FROM ui_flash_secrets WHERE expires_at <= now()")


async def _wait_for_change(listener: Conn, timeout_s: float) -> None:
    async for _ in listener.notifies(timeout=timeout_s, stop_after=1):
        pass


async def _relay_connected(settings: Settings, producer: AIOKafkaProducer, stop: asyncio.Event,
                           on_round: Callable[[], None]) -> None:
    topic = settings.topics.event_requests
    connect = psycopg.AsyncConnection.connect
    async with await connect(settings.database_url, autocommit=True, application_name=APPLICATION_NAME) as listener, \
            await connect(settings.database_url, autocommit=True, application_name=APPLICATION_NAME) as conn:
        await listener.execute(f"LISTEN {CHANNEL}")
        swept_at = 0.0
        while not stop.is_set():
            if time.monotonic() - swept_at > SWEEP_INTERVAL_S:
                await sweep(conn)
                swept_at = time.monotonic()
            while await relay_batch(conn, producer, topic):
                pass
            while await relay_tests(conn, producer, settings.topics.deliveries):
                pass
            on_round()
            await _wait_for_change(listener, settings.relay_poll_s)


async def _started_producer(settings: Settings) -> AIOKafkaProducer:
    producer = make_producer(settings)
    try:
        await producer.start()
    except BaseException:
        await producer.stop()  # a failed start leaves connections behind; the next round builds a new one
        raise
    return producer


async def run_relay(settings: Settings, *, stop: asyncio.Event,
                    on_round: Callable[[], None] = lambda: None) -> None:
    """Relay until `stop` is set; PostgreSQL or Kafka failures are retried after a pause, and logged saying what
    to check: at once, then at most every WARN_EVERY_S while they last, and once when the relay works again.
    An unexpected error (a bug) is retried and logged the same way, with its traceback the first time."""
    producer: AIOKafkaProducer | None = None
    notices = RetryNotices()

    def round_done() -> None:
        notices.log_success(log, "relay")
        on_round()

    try:
        while not stop.is_set():
            try:
                producer = producer or await _started_producer(settings)
                await _relay_connected(settings, producer, stop, round_done)
            except (psycopg.Error, KafkaError, OSError) as error:
                FAILURES.inc()
                reason = failure_reason(error, bootstrap=settings.kafka_bootstrap)
                quiet_rounds = notices.failed(reason, time.monotonic())
                if quiet_rounds is not None:
                    log.warning("relay round failed: %s; retrying every %.0f s%s", reason, RETRY_DELAY_S,
                                notices.repeat_note(quiet_rounds))
            except Exception as error:  # a bug must not silently end the relay inside `api`: log it and go on
                FAILURES.inc()
                reason = failure_reason(error, bootstrap=settings.kafka_bootstrap)
                traceback = error if notices.is_new(reason) else None  # once: the same one each second says nothing
                quiet_rounds = notices.failed(reason, time.monotonic())
                if quiet_rounds is not None:
                    log.error("relay round failed unexpectedly: %s; retrying every %.0f s%s", reason, RETRY_DELAY_S,
                              notices.repeat_note(quiet_rounds), exc_info=traceback)
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY_DELAY_S)
    finally:
        if producer is not None:
            await producer.stop()


RESYNC_BATCH = 100


async def resync(settings: Settings, *, progress: Callable[[int, int], None] = lambda done, total: None) -> int:
    """Republish every extension's current list (disaster recovery, a new cluster); returns how many."""
    return len(await resync_extensions(settings, progress=progress))


async def resync_extensions(settings: Settings, *,
                            progress: Callable[[int, int], None] = lambda done, total: None) -> list[str]:
    """`resync`, returning the extensions republished."""
    topic = settings.topics.event_requests
    producer = make_producer(settings)
    try:
        await producer.start()
        if topic not in (await producer.client.fetch_all_metadata()).topics():  # else each send waits ~10 s
            raise Unavailable(topic_missing(topic, settings.kafka_bootstrap))
        async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
            cursor = await conn.execute("SELECT number FROM extensions ORDER BY number")
            numbers = [row[0] for row in await cursor.fetchall()]
            for start in range(0, len(numbers), RESYNC_BATCH):
                async with conn.transaction():
                    await publish_extensions(conn, producer, topic, numbers[start:start + RESYNC_BATCH])
                progress(min(start + RESYNC_BATCH, len(numbers)), len(numbers))
        return numbers
    finally:
        await producer.stop()
