"""The Faust app: `call-events` ⨝ the config table read from `event-requests` → `deliveries`.

The config table uses `event-requests` itself as its changelog (Kafka Streams' source-topic table): the
compacted topic already is the table's log, so there is no second copy to write, and Faust's recovery
reads it. On every assignment Faust pauses the event partitions, reads the assigned `event-requests`
partitions to their end, and only then resumes the events: no event is joined against a half-read
table, also right after a start when config and events both waited on the broker. With
`recovery_buffer_size=1` Faust keeps those changelog partitions resumed after recovery and applies each
new record at once, which is how later config changes reach the table. The topics have one partition
count, so Faust's assignor gives each worker the same partition numbers of both (co-partitioned).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import faust
import mode
from faust.types import TP, EventT

from processors import metrics
from processors.handler import EventHandler, apply_config, drop_foreign, lookup_packed
from processors.pipeline import InOrderAcker
from processors.sink import KafkaSink
from processors.topology import TABLE_NAME, app_id
from schemas.settings import Settings

log = logging.getLogger(__name__)


class SinkService(mode.Service):
    """Owns the producer of jobs and dead letters; stops after the app, so in-flight sends finish."""

    def __init__(self, *, bootstrap: str, linger_ms: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bootstrap = bootstrap
        self._linger_ms = linger_ms
        self.sink: KafkaSink | None = None

    async def on_start(self) -> None:
        # Lingering a few ms fills larger produce requests: fewer socket writes per job (measured ~+25 % events/s
        # at 5 ms against 0 ms), for at most that much latency.
        self.sink = KafkaSink(bootstrap=self._bootstrap, linger_ms=self._linger_ms)
        await self.sink.start()

    async def on_stop(self) -> None:
        if self.sink is not None:
            await self.sink.stop()

    def get(self) -> KafkaSink:
        if self.sink is None:
            raise RuntimeError("the Kafka sink is not started")
        return self.sink


class RequestsTable(faust.Table):
    """extension → its enabled requests in compact form, fed only by `event-requests` records."""

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        store = cast(Any, self.data)
        for event in batch:
            message = event.message
            result = apply_config(store, message.key, message.value, partition=message.partition)
            metrics.CONFIG_RECORDS.labels(result=result).inc()
        metrics.TABLE_EXTENSIONS.set(len(store))

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        dropped = drop_foreign(cast(Any, self.data), {tp.partition for tp in active_tps})
        if dropped:
            log.info("dropped %d extensions of partitions now owned by other workers", dropped)
        metrics.TABLE_EXTENSIONS.set(len(self.data))

    def packed(self, extension: bytes) -> bytes | None:
        return lookup_packed(cast(Any, self.data), extension)


async def _acknowledge(acker: InOrderAcker[EventT]) -> None:
    with _exit_on_bug():
        await acker.run()


@contextmanager
def _exit_on_bug() -> Iterator[None]:
    """A failure no record explains (bad records go to the DLQ, sends are retried) ends the process without
    acking the event or any later one, so nothing is committed past it and a restart processes it again."""
    try:
        yield
    except Exception:
        log.critical("processor stopped on an unexpected error; the event stays uncommitted", exc_info=True)
        logging.shutdown()
        os._exit(70)


def _keep_buffered_events(app: faust.App, stream: faust.StreamT[bytes]) -> None:
    """Stop Faust from emptying this stream's buffer when it resumes the flow after a recovery.

    Faust resumes the stream partitions, seeks them to the committed offsets and only then resumes the
    flow, which clears the buffers: records fetched between the seek and the clearing are dropped while
    the consumer's position has moved past them, so they are never processed and a later commit may pass
    them. Kept in the buffer they are processed; records that a seek fetches again are processed twice,
    which at-least-once allows (same job ids).
    """
    managed = cast(Any, app.flow_control)._queues
    managed.discard(cast(Any, stream).channel.queue)


def faust_app(settings: Settings) -> faust.App:
    (settings.stack_dir / "faust").mkdir(parents=True, exist_ok=True)
    return faust.App(
        app_id(settings),
        broker=[f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")],
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_disable_leader=True,
        table_standby_replicas=0,  # a standby copy would double the table's memory
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_interval=settings.commit_interval_s,
        broker_session_timeout=settings.processor_session_timeout_s,
        broker_heartbeat_interval=settings.processor_session_timeout_s / 5,
        datadir=str(settings.stack_dir / "faust" / "{conf.name}-data"),  # Faust's own files, out of the cwd
        stream_wait_empty=True,
        processing_guarantee="at_least_once",
        key_serializer="raw",
        value_serializer="raw",
    )


def build(settings: Settings, *, partitions: int, sinks: SinkService) -> tuple[faust.App, RequestsTable]:
    """The app with its table and its event agent (concurrency 1: in order per partition)."""
    app = faust_app(settings)
    names = settings.topics
    requests_topic = app.topic(names.event_requests, key_type=bytes, value_type=bytes, partitions=partitions)
    table = RequestsTable(
        app=app, name=TABLE_NAME, partitions=partitions, key_type=bytes, value_type=bytes,
        changelog_topic=requests_topic, recovery_buffer_size=1,
    )
    app.tables.add(table)
    events_topic = app.topic(names.call_events, key_type=bytes, value_type=bytes, partitions=partitions)

    @app.agent(events_topic, name="join", concurrency=1)
    async def join(stream: faust.StreamT[bytes]) -> None:
        handler = EventHandler(topics=names, max_event_bytes=settings.max_event_bytes, lookup=table.packed)
        _keep_buffered_events(app, stream)
        # Acked by hand, in the order the events were taken, each once Kafka acknowledged its jobs
        # (processors.pipeline): an event whose jobs are not on the broker is never acked, and neither is
        # any later one, so no commit can pass it.
        manual = cast(faust.Stream[bytes], stream).noack()
        acker: InOrderAcker[EventT] = InOrderAcker(sink=sinks.get(), ack=manual.ack)
        acknowledging = asyncio.create_task(_acknowledge(acker), name="processor-acknowledger")
        try:
            async for event in manual.events():
                message = event.message
                with _exit_on_bug():
                    outcome = handler.outcome(
                        message.key, message.value,
                        partition=message.partition, offset=message.offset, timestamp_s=message.timestamp,
                    )
                    await acker.submit(event, outcome)
        finally:
            acknowledging.cancel()

    return app, table
