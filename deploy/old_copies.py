"""`callapi-events topics forget-old-copies`: remove the lists `topics grow` left on their old partitions.

After a growth the list of a moved extension stays on its old `event-requests` partition (deploy/grow.py), for the
events still written there. Compaction keeps it forever, and every processor worker holds one per moved extension of
the old partitions it owns (`processors.handler.LeftBehind`). Once no event can need it any more, a tombstone written
on that partition (explicitly: the partitioner would place it on the key's own one) removes that copy alone: the
processor ends only the old copy with it, and compaction then drops both.

No event needs an old copy any more when:
- no producer can still place the extension there: its list on its own partition (the resync of the growth that
  moved it, or a later change) is older than the settle time, longer than the producers' metadata age (5 min by
  default). Dated per extension: a list changed recently holds back its own copy only; and
- every event already written to the old partitions has been joined: the processor group has committed, on every
  `call-events` partition, at least the end offsets read when the command started.
Otherwise the copy is kept (a tombstone written too soon would make those events find no config, silently).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from control.kafka import make_producer
from deploy.topics import partition_counts
from processors.topology import app_id
from schemas.durations import format_duration
from schemas.hints import topic_missing
from schemas.publisher import partition_for
from schemas.settings import Settings

Progress = Callable[[int, int], None]


class ForgetRefused(Exception):
    """Why no old copy may be removed now, and when to run again, said for the operator."""


@dataclass(frozen=True)
class Last:
    """The last record of a key on one partition."""

    removed: bool  # a tombstone
    timestamp_ms: int


Lasts = dict[int, dict[bytes, Last]]
"""partition → key → its last record there."""


@dataclass(frozen=True)
class OldCopy:
    partition: int
    key: bytes
    moved_at_ms: int
    """When its list on its own partition was written: at or after the growth that moved it there."""


@dataclass
class ForgetReport:
    partitions: int
    records_read: int = 0
    found: dict[int, int] = field(default_factory=dict)
    """Old partition → old copies on it."""
    written: dict[int, int] = field(default_factory=dict)
    """Old partition → tombstones written (would be written, with --dry-run)."""
    waiting: int = 0
    """Old copies kept: the growth that moved them is younger than the settle time."""
    run_again_ms: int = 0
    """When the waiting ones will be due."""


def old_copies(lasts: Lasts, partitions: int) -> list[OldCopy]:
    """The lists still on another partition than their key's own under today's count (a tombstone there: none).

    Each is dated by its key's last record on its own partition. A key without one (its removal there compacted
    away, or a growth by hand without the resync) is dated by the newest of the others: the latest growth at least."""
    found = [(partition, key, lasts.get(partition_for(key, partitions), {}).get(key))
             for partition, keys in lasts.items() for key, last in keys.items()
             if not last.removed and partition_for(key, partitions) != partition]
    dates = [home.timestamp_ms for _, _, home in found if home is not None]
    if found and not dates:
        raise ForgetRefused(f"none of the {len(found)} old copies has a list on its own partition, so nothing tells "
                            "when the partitions were added: run `callapi-events topics grow` (or `relay --resync`) "
                            "first")
    newest = max(dates, default=0)
    return [OldCopy(partition, key, home.timestamp_ms if home is not None else newest)
            for partition, key, home in found]


async def read_lasts(settings: Settings, consumer: AIOKafkaConsumer, partitions: int, progress: Progress) -> tuple[
        Lasts, int]:
    """Every key's last record on each `event-requests` partition, read up to the end offsets; and how many records."""
    tps = [TopicPartition(settings.topics.event_requests, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
    total, done = sum(ends[tp] - starts[tp] for tp in tps), 0
    lasts: Lasts = {tp.partition: {} for tp in tps}
    pending = {tp for tp in tps if ends[tp] > starts[tp]}
    progress(done, total)
    while pending:
        for tp, records in (await consumer.getmany(*pending, timeout_ms=1000)).items():
            for record in records:
                if record.offset < ends[tp]:
                    done += 1
                    if record.key is not None:
                        lasts[tp.partition][record.key] = Last(record.value is None, record.timestamp)
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        progress(min(done, total), total)  # compaction leaves gaps: done may end below total
    return lasts, done


async def unjoined(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str,
                   ends: dict[TopicPartition, int]) -> dict[int, int]:
    """`call-events` partition → events below `ends` the group has not committed (a partition without a commit counts
    from its first record)."""
    committed = {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
                 if meta.offset >= 0}
    starts = await consumer.beginning_offsets(list(ends))
    return {tp.partition: end - start for tp, end in ends.items()
            if (start := committed.get(tp, starts[tp])) < end}


async def forget_old_copies(
    settings: Settings, *, settle_s: float, dry_run: bool = False, step: Callable[[str], None] = lambda text: None,
    progress: Progress = lambda done, total: None,
) -> ForgetReport:
    """Write a tombstone on each old copy that no event can need any more (module docstring); raises ForgetRefused
    before writing any when the processor has not joined every event written so far, or when none is due yet."""
    names = settings.topics
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        await admin.start()
        await consumer.start()
        partitions = await _grown_partitions(settings, admin)
        events = await consumer.end_offsets([TopicPartition(names.call_events, p) for p in range(partitions)])
        step(f"reading {names.event_requests}")
        lasts, read = await read_lasts(settings, consumer, partitions, progress)
        report = ForgetReport(partitions, read)
        copies = old_copies(lasts, partitions)
        for copy in copies:
            report.found[copy.partition] = report.found.get(copy.partition, 0) + 1
        if not copies:
            return report
        step(f"checking that the processor joined every event on {names.call_events}")
        if behind := await unjoined(admin, consumer, app_id(settings), events):
            raise ForgetRefused(
                f"the processor (consumer group {app_id(settings)}) has not yet joined {sum(behind.values())} "
                f"event(s) on {names.call_events} partition(s) {', '.join(map(str, sorted(behind)))}, and those on an "
                "old partition need its old copy. Run again once the processors are running and their lag is 0 "
                f"(callapi_consumer_lag{{group=\"{app_id(settings)}\"}})")
        now, settle_ms = int(time.time() * 1000), int(settle_s * 1000)
        due = [copy for copy in copies if now - copy.moved_at_ms >= settle_ms]
        waiting = [copy.moved_at_ms + settle_ms for copy in copies if now - copy.moved_at_ms < settle_ms]
        report.waiting, report.run_again_ms = len(waiting), max(waiting, default=0)
        if not due:
            raise ForgetRefused(
                f"the {len(copies)} old copies were left by a growth less than {format_duration(settle_s)} ago "
                "(--settle), and a producer whose metadata still has the old partition count may write events there: "
                f"run again after {utc_text(report.run_again_ms)}")
        for copy in due:
            report.written[copy.partition] = report.written.get(copy.partition, 0) + 1
        if not dry_run:
            step(f"writing {len(due)} tombstone(s) to {names.event_requests}")
            await _tombstones(settings, due)
        return report
    finally:
        await consumer.stop()
        await admin.close()


async def _grown_partitions(settings: Settings, admin: AIOKafkaAdminClient) -> int:
    """The partition count of `event-requests` and `call-events`; ForgetRefused unless both exist with one count."""
    names = settings.topics
    counts = await partition_counts(admin, [names.event_requests, names.call_events])
    for topic in (names.event_requests, names.call_events):
        if topic not in counts:
            raise ForgetRefused(topic_missing(topic, settings.kafka_bootstrap))
    if counts[names.event_requests] != counts[names.call_events]:
        raise ForgetRefused(f"{names.event_requests} has {counts[names.event_requests]} partitions and "
                            f"{names.call_events} {counts[names.call_events]}: finish the growth first "
                            "(`callapi-events topics grow` again), then run this command when --settle has passed")
    return counts[names.call_events]


async def _tombstones(settings: Settings, copies: list[OldCopy]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        acks = [await producer.send(settings.topics.event_requests, None, key=copy.key, partition=copy.partition)
                for copy in copies]
        for ack in acks:
            await ack
    finally:
        await producer.stop()


def utc_text(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))
