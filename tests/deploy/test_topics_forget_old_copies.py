"""`callapi-events topics forget-old-copies` after a real `topics grow` (3 → 4 partitions), with a real processor:
it refuses while events on the old partitions wait to be joined or the growth is younger than --settle, then
removes each list left on an old partition with one tombstone, and nothing else; the running processor lets go of
the copies it held as it reads the tombstones."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

from deploy.lag import LagCollector
from deploy.old_copies import ForgetRefused, Last, OldCopy, old_copies
from processors.handler import LeftBehind, apply_config, drop_foreign
from processors.replay import load_config
from processors.topology import app_id
from processors.window import ReplayFilter
from schemas.publisher import partition_for
from schemas.settings import Settings
from tests.deploy.growth import AFTER, BEFORE, grow, laid_out
from tests.processes import settings_env
from tests.processors.support import call_event, produce_events
from tests.services import Service, wait_until

Record = tuple[int, int, bytes, bytes | None]  # partition, offset, key, value
Caught = tuple[Settings, list[str], Service]
LEFT_BEHIND = "callapi_processor_left_behind_extensions"
TABLE = "callapi_processor_table_extensions"


@pytest.fixture(scope="module")
def grown(make_settings: Callable[..., Settings], database_url: str) -> tuple[Settings, list[str]]:
    """Lists published on 3 partitions (some with their only request disabled), an event of each extension with a
    request written there, then grown to 4."""
    settings, numbers = laid_out(make_settings, database_url, with_disabled=True)
    produce_events(settings, [call_event(e) for e in numbers])
    grown = grow(settings, AFTER)
    assert grown.returncode == 0, grown.stderr
    return settings, numbers


@pytest.fixture(scope="module")
def caught_up(grown: tuple[Settings, list[str]]) -> Iterator[Caught]:
    """A processor (started after the growth: alone, it reads every partition) has joined and committed every event
    written so far; it keeps running, reading `event-requests` as records arrive."""
    settings, numbers = grown
    with Service(settings, "processor", name="processor-catching-up") as processor:
        wait_until(lambda: asyncio.run(_group_lag(settings)) == 0, timeout_s=120, what="the processor's lag at 0")
        yield settings, numbers, processor


async def _group_lag(settings: Settings) -> int | None:
    collector = LagCollector(bootstrap=settings.kafka_bootstrap, group_prefix=settings.topic_prefix)
    await collector.start()
    try:
        lags = [item.lag for item in await collector.collect()
                if item.group == app_id(settings) and item.topic == settings.topics.call_events]
    finally:
        await collector.close()
    return lags[0] if lags else None


def _forget(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callapi_events", "topics", "forget-old-copies", *args],
                          env=settings_env(settings), capture_output=True, text=True, timeout=120, check=False)


def _records(settings: Settings) -> list[Record]:
    return asyncio.run(_read(settings))


async def _read(settings: Settings) -> list[Record]:
    """Every record of `event-requests`, partition by partition in offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topics.event_requests, p) for p in range(AFTER)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Record] = []
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                records += [(tp.partition, r.offset, r.key or b"", r.value)
                            for r in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []) if r.offset < ends[tp]]
        return sorted(records)
    finally:
        await consumer.stop()


def _old_copies(records: list[Record]) -> set[tuple[int, bytes]]:
    """(partition, key) of the lists whose last record sits away from the key's partition under 4 partitions."""
    last = {(partition, key): value for partition, _, key, value in records}
    return {place for place, value in last.items() if value is not None and place[0] != partition_for(place[1], AFTER)}


def _held(records: list[Record]) -> LeftBehind:
    """The old copies a processor owning every partition holds: the topic read as its table reads it."""
    left, table = LeftBehind(AFTER), dict[bytes, bytes]()
    for partition, _, key, value in records:
        apply_config(table, key, value, partition=partition, left=left)
    drop_foreign(table, set(range(AFTER)), left)
    return left


def _moved(numbers: list[str]) -> set[tuple[int, bytes]]:
    return {(partition_for(e.encode(), BEFORE), e.encode()) for e in numbers
            if partition_for(e.encode(), BEFORE) != partition_for(e.encode(), AFTER)}


def test_refuses_while_events_on_the_old_partitions_wait_for_the_processor(grown: tuple[Settings, list[str]]) -> None:
    settings, numbers = grown
    before = _records(settings)
    assert _moved(numbers) <= _old_copies(before)

    refused = _forget(settings, "--settle", "0s")

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "has not yet joined" in refused.stderr and app_id(settings) in refused.stderr, refused.stderr
    assert _records(settings) == before


def test_refuses_while_the_growth_is_younger_than_the_settle_time(caught_up: Caught) -> None:
    settings, _, _ = caught_up
    before = _records(settings)

    refused = _forget(settings, "--settle", "1d")

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "less than 1d ago" in refused.stderr and "run again after" in refused.stderr, refused.stderr
    assert _records(settings) == before


def test_writes_one_tombstone_per_old_copy_and_nothing_else(caught_up: Caught) -> None:
    settings, numbers, processor = caught_up
    before = _records(settings)
    old = _old_copies(before)
    config = asyncio.run(load_config(settings, ReplayFilter()))
    assert _moved(numbers) <= old and {e.encode() for e in numbers} <= set(config)
    # a list with no enabled request is not held, old copy or not
    assert processor.metric(LEFT_BEHIND) == _held(before).count() > 0
    assert processor.metric(TABLE) == len(config)

    dry = _forget(settings, "--settle", "0s", "--dry-run")
    assert dry.returncode == 0 and f"{len(old)} tombstone(s) to write" in dry.stdout, dry.stdout + dry.stderr
    assert _records(settings) == before

    done = _forget(settings, "--settle", "0s")

    assert done.returncode == 0 and f"{len(old)} tombstone(s) written" in done.stdout, done.stdout + done.stderr
    after = _records(settings)
    written = sorted((partition, key, value) for partition, _, key, value in set(after) - set(before))
    assert written == sorted((partition, key, None) for partition, key in old)
    assert asyncio.run(load_config(settings, ReplayFilter())) == config  # every list on its own partition untouched
    assert _held(after).copies == {}  # what a processor starting now holds
    wait_until(lambda: processor.metric(LEFT_BEHIND) == 0, timeout_s=90, what="the old copies let go of",
               log=processor.component.log)
    assert processor.metric(TABLE) == len(config)

    again = _forget(settings, "--settle", "0s")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
    assert _records(settings) == after


def test_refuses_a_growth_that_did_not_finish(make_settings: Callable[..., Settings]) -> None:
    """`topics grow` interrupted after `event-requests` grew: every event is still written with the old count, so
    every old copy is still the list in use."""
    settings = make_settings(partitions=BEFORE)
    asyncio.run(_grow_alone(settings.kafka_bootstrap, settings.topics.event_requests))

    refused = _forget(settings, "--settle", "0s")

    assert refused.returncode == 2 and "finish the growth first" in refused.stderr, refused.stdout + refused.stderr


async def _grow_alone(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_partitions({topic: NewPartitions(total_count=AFTER)})
    finally:
        await admin.close()


DAY_MS = 86_400_000


def test_removes_the_old_copies_of_an_older_growth_and_keeps_those_of_a_recent_one(
    make_settings: Callable[..., Settings],
) -> None:
    """Each old copy is dated by its extension's list on its own partition (written when the extension moved, or
    since): one moved two days ago, the other now."""
    settings = make_settings(partitions=AFTER)
    now, older, recent = int(time.time() * 1000), _key(3, 0), _key(2, 1)
    asyncio.run(_write(settings, [(0, older, now - 3 * DAY_MS), (3, older, now - 2 * DAY_MS),
                                  (1, recent, now - 3 * DAY_MS), (2, recent, now)]))
    before = _records(settings)

    done = _forget(settings, "--settle", "1d")

    assert done.returncode == 2 and "1 tombstone(s) written" in done.stdout, done.stdout + done.stderr
    assert "1 old cop(ies) kept" in done.stderr and "Run again after" in done.stderr, done.stderr
    assert [(p, key, value) for p, _, key, value in set(_records(settings)) - set(before)] == [(0, older, None)]


async def _write(settings: Settings, lists: list[tuple[int, bytes, int]]) -> None:
    """An (empty) list per (partition, key, timestamp)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for partition, key, timestamp_ms in lists:
            await producer.send_and_wait(settings.topics.event_requests, b"[]", key=key, partition=partition,
                                         timestamp_ms=timestamp_ms)
    finally:
        await producer.stop()


def _key(home: int, old: int) -> bytes:
    """A key whose partition is `home` under 4 partitions and `old` under 3."""
    return next(key for n in range(10_000) if partition_for(key := f"0001*{n}".encode(), AFTER) == home
                and partition_for(key, BEFORE) == old)


def test_each_old_copy_is_dated_by_its_list_on_its_own_partition() -> None:
    moved, unlisted, removed, stays = _key(3, 0), _key(2, 1), _key(1, 0), _key(2, 2)
    lasts = {
        0: {moved: Last(False, 100), removed: Last(True, 100)},  # a tombstone there already: nothing to write
        1: {unlisted: Last(False, 100), removed: Last(False, 700)},
        2: {stays: Last(False, 100)},
        3: {moved: Last(False, 500)},
    }
    # `unlisted` has no record on its own partition: dated by the newest list of the other old copies' own partitions
    assert sorted(old_copies(lasts, AFTER), key=lambda copy: copy.partition) == [
        OldCopy(0, moved, 500), OldCopy(1, unlisted, 500)]
    with pytest.raises(ForgetRefused, match="nothing tells when the partitions were added"):
        old_copies({1: {unlisted: Last(False, 100)}}, AFTER)
