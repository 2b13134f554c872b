"""`callapi-events replay`: send again the jobs of a time window, from `call-events` or from `deliveries`.

From `call-events` (default) the events are joined again against the CURRENT config, read from the
compacted `event-requests` topic, with the pure join the processor uses: same job ids (webhook-id), same
sequence (schemas/sequence.py), `replay=True`. With `--deliveries` the jobs recorded on `deliveries` in the
window are sent again as they were (marked `replay=True`). With `--extension` each topic is read only on the
partitions that can hold those extensions' records; joining again with any filter, the window only on those of
the extensions whose current config can make a selected job. Receivers dedupe by webhook-id, so an interrupted
replay is simply run again. Ctrl-C finishes the batch in flight, so the report then says exactly how many jobs went.
A broker that stops answering (no acknowledgement, no record) for CALLAPI_PRODUCER_REQUEST_TIMEOUT_MS ends it with
KafkaLost, where the client would wait for it forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from processors.errors import ProcessorError, ReplayError, TopicsMissing
from processors.handler import apply_config, lookup_packed
from processors.records import decode_event, decode_requests
from processors.replay_check import ConfigSeen, refusal
from processors.replay_check_db import known_in_control_plane
from processors.sink import KafkaSink, OutRecord, Unacknowledged
from processors.topology import partition_counts
from processors.window import ReplayFilter, Window
from schemas.codec import decode, encode
from schemas.errors import InvalidRecord
from schemas.extensions import canonical_extension
from schemas.hints import topic_missing
from schemas.jobs import DeliveryJob
from schemas.join import join, unpack_requests
from schemas.publisher import partition_for
from schemas.sequence import placed_by, sequence_of
from schemas.settings import Settings

log = logging.getLogger(__name__)

SEND_BATCH = 500
LATE_STAMPS_MS = 60_000
"""How far past --until a partition is read: producers on several hosts stamp records with their own clocks, so a
record stamped inside the window may follow one stamped after it (the first offset found by --until)."""
STOP_WAIT_S = 5.0
"""How long Ctrl-C waits for the batch in flight: a broker acknowledges it in milliseconds, a lost one never."""
Progress = Callable[[str, int, int], None]
"""progress(topic, records_done, records_total): the config on `event-requests` first, then the window."""


class KafkaLost(ProcessorError):
    """Kafka acknowledged no batch, or sent no record of a topic not read to its end, within the bound."""


@dataclass
class ReplayReport:
    records_read: int = 0
    selected: int = 0
    """Events (or recorded jobs) in the window that pass the tenant/extension filter."""
    skipped_invalid: int = 0
    jobs: int = 0
    """Jobs sent, or that would be sent with --dry-run."""
    sent: bool = False
    jobs_sent: int = 0
    """Jobs Kafka acknowledged so far: all of `jobs` once done, what went before an interrupt."""
    jobs_unconfirmed: int = 0
    """Jobs of the batch Kafka never acknowledged, the replay having stopped (lost broker, Ctrl-C): some may be on
    the topic."""
    window_records: int | None = None
    """Records in the window's offset ranges (found by time, a minute past --until), once they are known."""
    records_scanned: int = 0
    """Of those, the records read so far (`records_read` counts only those timestamped in the window)."""
    partitions: int = 0
    """The source topic's partition count."""
    partitions_read: list[int] | None = None
    """Its partitions whose window was read: with --extension only those that can hold its records."""
    filters_found_in: str = ""
    """Where the filter values were confirmed: `postgresql` (event-requests not read), `event-requests`, or
    empty without filters."""


async def _partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    count = (await partition_counts(settings.kafka_bootstrap, [topic])).get(topic)
    if count is None:
        raise TopicsMissing(topic_missing(topic, settings.kafka_bootstrap))
    return [TopicPartition(topic, p) for p in range(count)]


class _Stall:
    """KafkaLost once reads get no record for `bound_s`: with the broker gone the client waits for it forever."""

    def __init__(self, bound_s: float) -> None:
        self._bound_s, self._since = bound_s, time.monotonic()

    def check(self, records: int, topic: str) -> None:
        now = time.monotonic()
        if records:
            self._since = now
        elif now - self._since >= self._bound_s:
            raise KafkaLost(f"no record of {topic} in {self._bound_s:g} s")


def _bound_s(settings: Settings) -> float:
    return settings.producer_request_timeout_ms / 1000


def holding(tps: list[TopicPartition], extensions: Collection[str] | None) -> list[TopicPartition]:
    """Of a topic's partitions, those that can hold these extensions' records: every writer (producer SDK,
    relay, processor) keys a record by the canonical extension and lets the default partitioner place it,
    murmur2 of the key over the topic's partition count (`partition_for`). All of them for None."""
    if extensions is None:
        return tps
    picked = {partition_for(extension.encode(), len(tps)) for extension in extensions}
    return [tp for tp in tps if tp.partition in picked]


def job_makers(config: dict[bytes, bytes], wanted: ReplayFilter) -> set[str] | None:
    """The extensions whose current config can make a job the filters select: joining again, no other
    extension's event makes one, so only their partitions need reading. None (every partition) without filters,
    so the summary still counts every event of the window."""
    if not (wanted.tenants or wanted.extensions or wanted.request_ids):
        return None
    return {key.decode() for key in config
            if any(wanted.wants_request(r.id) for r in unpack_requests(lookup_packed(config, key)))}


async def _window_ranges(
    settings: Settings, consumer: AIOKafkaConsumer, topic: str, window: Window, extensions: Collection[str] | None,
    report: ReplayReport,
) -> dict[TopicPartition, tuple]:
    """Per partition read: [first offset at/after since, first offset at/after until + LATE_STAMPS_MS) — found by
    time; `read_window` keeps the records stamped in the window."""
    tps = await _partitions(settings, topic)
    starts = await consumer.offsets_for_times({tp: window.since_ms for tp in tps})
    ends = await consumer.offsets_for_times({tp: window.until_ms + LATE_STAMPS_MS for tp in tps})
    firsts = await consumer.beginning_offsets(tps)
    log_ends = await consumer.end_offsets(tps)
    ranges, older = {}, []
    for tp in tps:
        start = starts[tp].offset if starts[tp] is not None else log_ends[tp]
        end = ends[tp].offset if ends[tp] is not None else log_ends[tp]
        older.append(start > firsts[tp])  # it holds a record from before the window
        if start < end:
            ranges[tp] = (start, end)
    # Keys move when partitions are added. A partition holding a record from before the window existed then;
    # when all do, the window was written with today's count. Otherwise (one was added since, or is merely
    # quiet or emptied by retention) every partition is read.
    read = holding(tps, extensions) if all(older) else tps
    report.partitions, report.partitions_read = len(tps), [tp.partition for tp in read]
    return {tp: ranges[tp] for tp in read if tp in ranges}


async def read_window(
    settings: Settings, topic: str, window: Window, extensions: Collection[str] | None, progress: Progress,
    report: ReplayReport,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """The records of `topic` whose timestamps fall in the window, partition by partition in offset order; only
    on the partitions that can hold `extensions`' records (`holding`), every partition for None.

    `report` learns the window's size and how far the reading got (what an interrupted replay left)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()  # inside: a start that fails still closes what it opened
        ranges = await _window_ranges(settings, consumer, topic, window, extensions, report)
        total = report.window_records = sum(end - start for start, end in ranges.values())
        done, stall = 0, _Stall(_bound_s(settings))
        progress(topic, done, total)
        for tp, (start, end) in ranges.items():
            consumer.assign([tp])
            consumer.seek(tp, start)
            while await consumer.position(tp) < end:
                records = (await consumer.getmany(tp, timeout_ms=1000)).get(tp, [])
                stall.check(len(records), topic)
                for record in records:
                    if record.offset >= end:
                        break
                    done = report.records_scanned = done + 1
                    if window.contains_ms(record.timestamp):
                        yield record
                progress(topic, min(done, total), total)
        progress(topic, total, total)
    finally:
        await consumer.stop()


async def load_config(
    settings: Settings, wanted: ReplayFilter, seen: ConfigSeen | None = None, progress: Progress = lambda *_: None,
) -> dict[bytes, bytes]:
    """The current config of the wanted extensions: `event-requests` read to its end, compact form; with
    --extension only the partitions holding those keys, where the relay writes them and the processor reads them.

    A record on another partition than its key's (today's count) is a copy left behind when partitions were
    added (`topics grow` republishes each list on its new partition): ignored, so it never wins over the current
    one, whatever order the partitions are read in.

    `seen` learns which filter values the config knows (see `processors.replay_check`); `progress` how much of
    the topic was read (minutes at a million extensions)."""
    topic = settings.topics.event_requests
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    store: dict[bytes, bytes] = {}
    try:
        await consumer.start()
        every = await _partitions(settings, topic)
        tps = holding(every, wanted.extensions or None)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        firsts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        total, done, stall = sum(ends[tp] - firsts[tp] for tp in tps), 0, _Stall(_bound_s(settings))
        progress(topic, done, total)
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                records = (await consumer.getmany(tp, timeout_ms=1000)).get(tp, [])
                stall.check(len(records), topic)
                done = min(done + len(records), total)
                progress(topic, done, total)
                for record in records:
                    if record.key is None or partition_for(record.key, len(every)) != tp.partition:
                        continue
                    if wanted.wants_extension(_text(record.key)):
                        apply_config(store, record.key, record.value, partition=tp.partition)
                        if seen is not None:
                            _note(seen, record.key, record.value)
        progress(topic, total, total)
        return store
    finally:
        await consumer.stop()


def _note(seen: ConfigSeen, key: bytes, value: bytes | None) -> None:
    try:
        extension, requests = decode_requests(key, value)
    except InvalidRecord:
        return  # apply_config logged it and kept the previous config
    seen.note(extension.decode(), requests)


async def checked_config(
    settings: Settings, wanted: ReplayFilter, *, from_deliveries: bool, report: ReplayReport,
    progress: Progress = lambda *_: None,
) -> dict[bytes, bytes]:
    """The current config (as `load_config`), once the filters proved to name something in it.

    Raises ReplayError naming each filter value that matches nothing, before the window is read. Recorded jobs
    are resent without config, so there the control plane's PostgreSQL is asked first (a query instead of the
    whole topic); the topic is read only when PostgreSQL does not show every value."""
    filtered = wanted.tenants or wanted.extensions or wanted.request_ids
    if from_deliveries and filtered and await known_in_control_plane(settings.database_url, wanted):
        report.filters_found_in = "postgresql"
        return {}
    seen = ConfigSeen(wanted) if filtered else None
    reading = seen is not None or not from_deliveries
    config = await load_config(settings, wanted, seen, progress) if reading else {}
    if seen is not None and (why := refusal(seen, from_deliveries=from_deliveries)):
        raise ReplayError(why)
    report.filters_found_in = "event-requests" if seen is not None else ""
    return config


def _text(key: bytes) -> str:
    try:
        return canonical_extension(key.decode())
    except (UnicodeDecodeError, ValueError):
        return ""


class _Batcher:
    """Collects jobs and sends them in batches (each batch acknowledged, within `bound_s`, before the next is read
    on)."""

    def __init__(self, sink: KafkaSink | None, topic: str, report: ReplayReport, bound_s: float) -> None:
        self._sink, self._topic, self._report, self._bound_s = sink, topic, report, bound_s
        self._pending: list[OutRecord] = []

    async def add(self, job: DeliveryJob) -> None:
        self._report.jobs += 1
        if self._sink is not None:
            self._pending.append(OutRecord(self._topic, job.extension.encode(), encode(job)))
            if len(self._pending) >= SEND_BATCH:
                await self.flush()

    async def flush(self) -> None:
        if self._sink is None or not self._pending:
            return
        batch, self._pending = self._pending, []
        sending = asyncio.ensure_future(self._sink.send_all(batch, within_s=self._bound_s))
        try:
            await asyncio.shield(sending)
        except asyncio.CancelledError:  # Ctrl-C: finish the batch in flight, so the report says what went
            await asyncio.wait([sending], timeout=STOP_WAIT_S)  # unless Kafka is gone: then stop now
            sending.cancel()
            self._count(batch, acknowledged=sending.done() and not sending.cancelled() and not sending.exception())
            raise
        except Unacknowledged:
            self._count(batch, acknowledged=False)
            raise KafkaLost("no acknowledgement") from None
        self._count(batch, acknowledged=True)

    def _count(self, batch: list[OutRecord], *, acknowledged: bool) -> None:
        if acknowledged:
            self._report.jobs_sent += len(batch)
        else:
            self._report.jobs_unconfirmed += len(batch)


async def replay(
    settings: Settings, window: Window, wanted: ReplayFilter, *, from_deliveries: bool, dry_run: bool,
    progress: Progress, clock: Callable[[], datetime] = lambda: datetime.now(UTC), report: ReplayReport | None = None,
) -> ReplayReport:
    """Replay the window into `report` (a new one by default): the caller's report still tells, after Ctrl-C
    (KeyboardInterrupt out of asyncio.run), how many jobs went and how much of the window was read."""
    report = report if report is not None else ReplayReport(sent=not dry_run)
    if not dry_run:  # before anything is read: a send to a missing topic would wait for it, then fail
        await _partitions(settings, settings.topics.deliveries)
    config = await checked_config(settings, wanted, from_deliveries=from_deliveries, report=report, progress=progress)
    sink = None if dry_run else KafkaSink(bootstrap=settings.kafka_bootstrap,
                                          request_timeout_ms=settings.producer_request_timeout_ms)
    if sink is not None:
        await sink.start()
    try:
        batcher = _Batcher(sink, settings.topics.deliveries, report, _bound_s(settings))
        if from_deliveries:
            await _resend_recorded(settings, window, wanted, batcher, report, progress)
        else:
            await _join_again(settings, window, config, wanted, batcher, report, progress, clock)
        await batcher.flush()
    finally:
        if sink is not None:
            await sink.stop_now()  # every batch was acknowledged, or the replay gives up on it
    return report


async def _join_again(
    settings: Settings, window: Window, config: dict[bytes, bytes], wanted: ReplayFilter, batcher: _Batcher,
    report: ReplayReport, progress: Progress, clock: Callable[[], datetime],
) -> None:
    reading = job_makers(config, wanted)
    async for record in read_window(settings, settings.topics.call_events, window, reading, progress, report):
        report.records_read += 1
        try:
            event = decode_event(record.key, record.value, max_bytes=settings.max_event_bytes)
        except InvalidRecord:
            report.skipped_invalid += 1  # it went to call-events.dlq the first time
            continue
        if record.key != event.extension.encode() or not wanted.wants_extension(event.extension):
            continue  # a record under another key was put back under its canonical one: that copy is replayed
        report.selected += 1
        packed = lookup_packed(config, event.extension.encode())
        sequence = sequence_of(record.offset, placed_by(record.headers, report.partitions))
        for job in join(event, unpack_requests(packed), sequence=sequence, processed_at=clock(), replay=True):
            if wanted.wants_request(job.request_id):
                await batcher.add(job)


async def _resend_recorded(
    settings: Settings, window: Window, wanted: ReplayFilter, batcher: _Batcher, report: ReplayReport,
    progress: Progress,
) -> None:
    seen: set[str] = set()  # a job recorded twice (at-least-once) is sent once
    async for record in read_window(settings, settings.topics.deliveries, window, wanted.extensions or None, progress,
                                   report):
        report.records_read += 1
        try:
            job = decode(DeliveryJob, record.value or b"")
        except InvalidRecord:
            report.skipped_invalid += 1
            continue
        if not wanted.wants_extension(job.extension) or not wanted.wants_request(job.request_id):
            continue
        report.selected += 1
        if job.job_id not in seen:
            seen.add(job.job_id)
            await batcher.add(job.model_copy(update={"replay": True}))
