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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

import faust
import mode
from faust.types import TP, EventT, Message

from processors import metrics
from processors.consumer import Inbox, commit_taken_offsets, fetch_within, take_records
from processors.handler import EventHandler, LeftBehind, apply_config, drop_foreign, lookup_packed
from processors.intake import Intake, Record, Taken
from processors.pipeline import InOrderAcker
from processors.positions import Positions, Ticket
from processors.sink import KafkaSink
from processors.topology import TABLE_NAME, app_id, exit_when_partitions_added
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
    """extension → its enabled requests in compact form, fed only by `event-requests` records; the copies left on
    old partitions when partitions were added are held beside it (`LeftBehind`)."""

    def __init__(self, *args: Any, partitions: int, **kwargs: Any) -> None:
        super().__init__(*args, partitions=partitions, **kwargs)
        self.left_behind = LeftBehind(partitions)

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        store = cast(Any, self.data)
        for event in batch:
            message = event.message
            result = apply_config(store, message.key, message.value, partition=message.partition,
                                  left=self.left_behind)
            metrics.CONFIG_RECORDS.labels(result=result).inc()
        metrics.TABLE_EXTENSIONS.set(len(store))
        metrics.LEFT_BEHIND_EXTENSIONS.set(self.left_behind.count())

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        dropped = drop_foreign(cast(Any, self.data), {tp.partition for tp in active_tps}, self.left_behind)
        if dropped:
            log.info("dropped %d extensions of partitions now owned by other workers", dropped)
        metrics.TABLE_EXTENSIONS.set(len(self.data))
        metrics.LEFT_BEHIND_EXTENSIONS.set(self.left_behind.count())

    def packed(self, extension: bytes, partition: int) -> bytes | None:
        return lookup_packed(cast(Any, self.data), extension, self.left_behind, partition)


async def _acknowledge(acker: InOrderAcker[Any]) -> None:
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


class _Pending(NamedTuple):
    ticket: Ticket
    message: Message | None  # the fetched record, acked to Faust once finished; None for one read by the intake


async def _process(
    message: Message, *, intake: Intake, handler: EventHandler, acker: InOrderAcker[_Pending],
    ack: Callable[[Message], object],
) -> None:
    """Send the jobs of the record, and of any records the fetch skipped before it, in offset order."""
    record = Record(message.partition, message.offset, message.key, message.value, message.timestamp,
                    message.headers)  # type: ignore[arg-type]  # from aiokafka: (name, value) pairs, not a Mapping
    if (taken := intake.take_next(record)) is not None:
        await _send(taken, message, handler=handler, acker=acker)
        return
    admitted = False
    async for taken in intake.admit(record):
        admitted = taken.record.offset == record.offset
        await _send(taken, message if admitted else None, handler=handler, acker=acker)
    if not admitted:  # a duplicate, or a partition no longer owned: nothing to do but tell Faust
        ack(message)


async def _send(taken: Taken, message: Message | None, *, handler: EventHandler, acker: InOrderAcker[_Pending]) -> None:
    record = taken.record
    outcome = handler.outcome(record.key, record.value, partition=record.partition, offset=record.offset,
                              timestamp_s=record.timestamp_s, headers=record.headers)
    await acker.submit(_Pending(taken.ticket, message), outcome)


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
        # Partitions added (`topics grow`) are seen within this, and the worker then exits to be started again
        # (processors.topology.exit_when_partitions_added): events of moved extensions wait at most this long.
        consumer_metadata_max_age_ms=30_000,
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


def _intake(app: faust.App, settings: Settings, positions: Positions) -> Intake:
    topic = settings.topics.call_events
    return Intake(
        settings=settings, topic=topic, group=app_id(settings), positions=positions,
        generation=lambda: app.consumer_generation_id,
        owned=lambda: {tp.partition for tp in app.consumer.assignment() if tp.topic == topic},
    )


def build(settings: Settings, *, partitions: int, sinks: SinkService) -> tuple[faust.App, RequestsTable]:
    """The app with its table and its event agent (concurrency 1: in order per partition)."""
    app = faust_app(settings)
    fetch_within(app, settings.fetch_max_wait_ms)
    names = settings.topics
    requests_topic = app.topic(names.event_requests, key_type=bytes, value_type=bytes, partitions=partitions)
    table = RequestsTable(
        app=app, name=TABLE_NAME, partitions=partitions, key_type=bytes, value_type=bytes,
        changelog_topic=requests_topic, recovery_buffer_size=1,
    )
    app.tables.add(table)
    exit_when_partitions_added(app, settings, partitions)
    events_topic = app.topic(names.call_events, key_type=bytes, value_type=bytes, partitions=partitions)
    inbox = Inbox()
    take_records(app, topic=names.call_events, inbox=inbox)

    @app.agent(events_topic, name="join", concurrency=1)
    async def join(stream: faust.StreamT[bytes]) -> None:
        handler = EventHandler(topics=names, max_event_bytes=settings.max_event_bytes, lookup=table.packed,
                               partitions=partitions)
        positions = Positions()
        commit_taken_offsets(app, topic=names.call_events, positions=positions)
        intake = _intake(app, settings, positions)
        consumer = app.consumer
        unacked = consumer.unacked  # what Faust waits for at a rebalance and at the stop, as for a stream's events
        # Acked in the order taken, each once Kafka acknowledged its jobs (processors.pipeline): a record whose jobs
        # are not on the broker is never finished, so no commit passes it (processors.positions).

        async def finish(pending: _Pending) -> None:
            positions.finish(pending.ticket)
            if pending.message is not None:
                consumer.ack(pending.message)

        acker: InOrderAcker[_Pending] = InOrderAcker(sink=sinks.get(), ack=finish)
        acknowledging = asyncio.create_task(_acknowledge(acker), name="processor-acknowledger")
        with _exit_on_bug():  # without its reader the agent cannot fill gaps: exit, a restart tries again
            await intake.start()
        try:
            aiter(stream.channel)  # subscribes the topic, as iterating the stream would; its records come by `inbox`
            while True:
                messages = await inbox.take()
                with _exit_on_bug():
                    for message in messages:
                        unacked.add(message)
                        await _process(message, intake=intake, handler=handler, acker=acker, ack=consumer.ack)
        finally:
            acknowledging.cancel()
            await intake.stop()

    return app, table
