"""`callapi-events topics grow` on a running pipeline: two real processor workers, the relay's resync, the real
broker. Growing 3 → 4 partitions moves most extensions; with the workers sharing the partitions, an event of a
moved extension is joined on its new partition by a worker that may never have read its old one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from itertools import product

import pytest
from aiokafka import AIOKafkaProducer

from deploy.grow import GrowRefused, check_growth
from processors.topology import EXIT_PARTITIONS_ADDED
from producers.sdk import CallEventProducer
from schemas.codec import encode
from schemas.events import CallEvent
from schemas.publisher import partition_for
from schemas.settings import Settings
from tests.deploy.growth import AFTER, BEFORE, grow, laid_out
from tests.processors.support import call_event, produce_events, read_jobs
from tests.services import Service, all_ready, wait_until

TABLE = "callapi_processor_table_extensions"
PROCESSED = "callapi_processor_events_total"
NO_MATCH = 'callapi_processor_events_total{result="no_match"}'


@pytest.fixture(scope="module")
def layout(make_settings: Callable[..., Settings], database_url: str) -> tuple[Settings, list[str]]:
    return laid_out(make_settings, database_url)


@contextlib.contextmanager
def sharing_the_partitions(settings: Settings) -> Iterator[list[Service]]:
    """Two processor workers, each holding part of the table (not all on the one that joined first)."""
    workers = [Service(settings, "processor", name=f"processor-{i}") for i in range(2)]
    with all_ready(*workers):
        wait_until(lambda: all(_lists(w) > 0 for w in workers), timeout_s=90, what="both workers own partitions")
        yield workers


def _missing(
    settings: Settings, workers: list[Service], events: list[CallEvent], counts: tuple[int, ...] = (BEFORE, AFTER),
) -> list[str]:
    """The extensions (with their move through `counts`) of the events that made no job. Every extension has a
    request, so an event that found no config (counted `no_match`) was dropped: the wait ends on the first, or when
    each made its job."""
    made: set[str] = set()

    def settled() -> bool:
        made.update(job.event_id for job in read_jobs(settings, lambda jobs: True, settle_s=0.5))
        return {e.event_id for e in events} <= made or sum(w.metric(NO_MATCH) for w in workers) > 0

    wait_until(settled, timeout_s=90, what="every event joined or one dropped")
    wait_until(lambda: sum(w.metric(PROCESSED) for w in workers) >= len(events), timeout_s=90, what="all processed")
    made.update(job.event_id for job in read_jobs(settings, lambda jobs: True, settle_s=1))
    return [f"{e.extension} ({_move(e.extension, counts)})" for e in events if e.event_id not in made]


def _move(extension: str, counts: tuple[int, ...]) -> str:
    return "→".join(str(partition_for(extension.encode(), count)) for count in counts)


def _send_through_the_sdk(settings: Settings, events: list[CallEvent]) -> None:
    async def send() -> None:
        async with CallEventProducer(settings=settings) as producer:
            for event in events:
                await producer.send_and_wait(event)

    asyncio.run(send())


def test_grow_keeps_every_event_of_a_moved_extension_and_its_sequence_order(
    layout: tuple[Settings, list[str]],
) -> None:
    """Each extension's X-CallAPI-Sequence goes on increasing through the growth, from its old partition's offsets
    to the new one's lower ones (the producer SDK's events say the partition count they were placed by)."""
    settings, numbers = layout
    with sharing_the_partitions(settings) as workers:
        first = [call_event(e) for e in numbers]
        _send_through_the_sdk(settings, first)
        assert _missing(settings, workers, first) == []
    backlog = [call_event(e) for e in numbers]  # written on the old partitions, joined after the growth
    _send_through_the_sdk(settings, backlog)

    grown = grow(settings, AFTER)

    assert grown.returncode == 0, grown.stderr
    assert f"topics grown to {AFTER} partitions" in grown.stdout and "restart the processors" in grown.stdout
    assert "callapi-events topics forget-old-copies" in grown.stdout
    with sharing_the_partitions(settings) as workers:  # restarted: each checks the counts, seeds the new offsets
        after = [call_event(e) for e in numbers]  # on the new partitions
        _send_through_the_sdk(settings, after)
        assert _missing(settings, workers, backlog + after) == []
    sequence = {job.event_id: job.sequence for job in read_jobs(settings, lambda jobs: True, settle_s=1)}
    disordered = [f"{e} ({_move(e, (BEFORE, AFTER))}): {seqs}"
                  for e, *events in zip(numbers, first, backlog, after, strict=True)
                  if (seqs := [sequence[event.event_id] for event in events]) != sorted(set(seqs))]
    assert disordered == []


def test_grow_refuses_to_shrink_and_says_when_there_is_nothing_to_do(layout: tuple[Settings, list[str]]) -> None:
    settings, _ = layout
    shrink = grow(settings, 2)
    assert shrink.returncode == 2 and "Kafka cannot remove partitions" in shrink.stderr, shrink.stderr
    grow(settings, AFTER)  # grown already when the test above ran
    again = grow(settings, AFTER)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr


def test_grow_refuses_before_topics_create() -> None:
    settings = Settings(topic_prefix="none.yet.")
    with pytest.raises(GrowRefused, match="run `callapi-events topics create` first"):
        check_growth(settings, {settings.topics.call_events: 3}, 4)


@pytest.fixture(scope="module")
def running_layout(make_settings: Callable[..., Settings], database_url: str) -> tuple[Settings, list[str]]:
    """As `layout`, on topics of their own (the other tests grow theirs)."""
    return laid_out(make_settings, database_url)


def test_a_processor_running_through_the_growth_exits_and_started_again_joins_every_event(
    running_layout: tuple[Settings, list[str]],
) -> None:
    """Without a restart, the new partitions' events made no job (seen for 100 s after the worker took them)."""
    settings, numbers = running_layout
    worker = Service(settings, "processor", name="processor-through-growth")
    with worker:
        assert grow(settings, AFTER).returncode == 0
        wait_until(lambda: not _running(worker), timeout_s=120, what="the processor exited on its own")
    assert worker.component.process is not None and worker.component.process.returncode == EXIT_PARTITIONS_ADDED
    assert "partitions were added since this worker started with 3" in worker.component.log()
    with Service(settings, "processor", name="processor-after-growth") as again:
        events = [call_event(e) for e in numbers]
        produce_events(settings, events)
        assert _missing(settings, [again], events) == []


@pytest.fixture(scope="module")
def grown_layout(make_settings: Callable[..., Settings], database_url: str) -> tuple[Settings, list[str]]:
    """As `layout`, on topics of their own, grown to AFTER partitions."""
    settings, numbers = laid_out(make_settings, database_url)
    grown = grow(settings, AFTER)
    assert grown.returncode == 0, grown.stderr
    return settings, numbers


def test_a_worker_keeping_an_old_partition_but_not_the_new_one_joins_the_events_still_written_there(
    grown_layout: tuple[Settings, list[str]],
) -> None:
    """The first worker reads every partition, so it holds each moved extension's list from its new partition; a
    second worker then takes part of them, and the first keeps its other partitions without reading them again.
    Events written on the old partitions (by a producer not yet aware of the new count) are joined there, also by a
    worker that gave the extension's new partition away: before the old copy was kept beside the table, the worker
    dropped the extension with that partition and these events made no job."""
    settings, numbers = grown_layout
    with Service(settings, "processor", name="processor-alone") as first:
        every_list = first.metric(TABLE)  # ready: every partition read (the resync also put other tests' lists there)
        with Service(settings, "processor", name="processor-joining") as second:
            wait_until(lambda: _lists(second) > 0 and _lists(first) < every_list, timeout_s=90,
                       what="the partitions shared")
            stale = [call_event(e) for e in numbers]
            asyncio.run(_produce_on_old_partitions(settings, stale))
            assert _missing(settings, [first, second], stale) == []


# A second growth, AFTER → LAST: with 3, 4 and 5 partitions a key can move every way at each growth (with 3 → 6 → 12,
# a key on partition p of 3 could only go to p or p + 3, and then to those + 6).
LAST = 5


def extensions_moving_twice(code: str) -> list[str]:
    """An extension for each way a key can move at both growths to a partition it never had: whatever part a worker
    keeps, one of them has one old partition there and neither its other old partition nor its partition now."""
    by_move: dict[tuple[int, ...], str] = {}
    for n in range(100, 5000):
        key = f"{code}*{n}"
        by_move.setdefault(tuple(partition_for(key.encode(), count) for count in (BEFORE, AFTER, LAST)), key)
    moves = [move for move in product(range(BEFORE), range(AFTER), range(LAST)) if len(set(move)) == 3]
    return [by_move[move] for move in moves]


@pytest.fixture(scope="module")
def twice_grown_layout(make_settings: Callable[..., Settings], database_url: str) -> tuple[Settings, list[str]]:
    """Lists published on BEFORE partitions, then grown to AFTER and to LAST: each growth republishes every list on
    its key's partition of the new count, so each extension has a copy on both its old partitions."""
    settings, numbers = laid_out(make_settings, database_url, moving=extensions_moving_twice)
    for count in (AFTER, LAST):
        grown = grow(settings, count)
        assert grown.returncode == 0, grown.stderr
    return settings, numbers


def test_after_two_growths_a_worker_keeping_one_old_partition_joins_the_events_still_written_there(
    twice_grown_layout: tuple[Settings, list[str]],
) -> None:
    """The first worker reads every partition; a second one takes part of them, leaves (the first reads that part
    again, after the part it kept) and comes back for it (the assignor takes it from the same worker). Events written
    on both old partitions of each extension (by producers still seeing 3 or 4 partitions) are all joined, also by
    the first worker on the one old partition it kept without the other nor the extension's partition now: before
    the copies were kept per partition, it held only the copy read last, dropped it with the part given back, and
    these events made no job."""
    settings, numbers = twice_grown_layout
    with Service(settings, "processor", name="processor-staying") as first:
        every_list = first.metric(TABLE)  # ready: every partition read

        def shared(second: Service) -> None:
            wait_until(lambda: _lists(second) > 0 and _lists(first) < every_list, timeout_s=90,
                       what="the partitions shared")

        with Service(settings, "processor", name="processor-leaving") as second:
            shared(second)
        wait_until(lambda: _lists(first) == every_list, timeout_s=90, what="every partition read again",
                   log=lambda: f"{_lists(first):.0f} of {every_list:.0f} lists\n{first.component.log()}")
        with Service(settings, "processor", name="processor-coming-back") as second:
            shared(second)
            stale = {count: [call_event(e) for e in numbers] for count in (BEFORE, AFTER)}
            for count, events in stale.items():
                asyncio.run(_produce_on_old_partitions(settings, events, count))
            assert _missing(settings, [first, second], stale[BEFORE] + stale[AFTER], (BEFORE, AFTER, LAST)) == []


async def _produce_on_old_partitions(settings: Settings, events: list[CallEvent], count: int = BEFORE) -> None:
    """Each event on its extension's partition under `count` partitions, as a producer still seeing `count` writes."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            key = event.extension.encode()
            await producer.send(settings.topics.call_events, encode(event), key=key,
                                partition=partition_for(key, count))
        await producer.flush()
    finally:
        await producer.stop()


def _lists(worker: Service) -> float:
    """The lists in the worker's table; a worker that exited fails at once with its log (its metric would read 0)."""
    process = worker.component.process
    if process is not None and process.poll() is not None:
        raise AssertionError(f"{worker.command} exited {process.returncode}:\n{worker.component.log()[-3000:]}")
    return worker.metric(TABLE)


def _running(service: Service) -> bool:
    process = service.component.process
    return process is not None and process.poll() is None
