"""The records the processor's agent turns into jobs: per partition in offset order, once per generation, none
skipped (the books are processors.positions).

An event beyond its lane's next offset means the stream skipped records (see processors.positions). They
are read from the broker here and taken before the event, so a later commit never passes them. A gap the
broker shows to be empty (transaction markers, records removed by retention) costs one fetch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition

from processors import metrics
from processors.errors import GapUnreadable
from processors.positions import Placement, Positions, Ticket
from processors.topology import committed_offsets
from schemas.sequence import RecordHeaders
from schemas.settings import Settings

log = logging.getLogger(__name__)


class Record(NamedTuple):
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_s: float | None
    headers: RecordHeaders | None = None


class Taken(NamedTuple):
    record: Record
    ticket: Ticket


class Intake:
    """Admits the stream's records of `topic` into the books, reading skipped offsets from the broker."""

    def __init__(
        self, *, settings: Settings, topic: str, group: str, positions: Positions,
        generation: Callable[[], int], owned: Callable[[], set[int]], gap_timeout_s: float = 60.0,
    ) -> None:
        self._settings = settings
        self._topic = topic
        self._group = group
        self._positions = positions
        self._generation = generation
        self._owned = owned
        self._gap_timeout_s = gap_timeout_s
        self._begun: int | None = None  # the generation whose lanes are begun
        self._reader = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
        )

    async def start(self) -> None:
        await self._reader.start()

    async def stop(self) -> None:
        await self._reader.stop()

    def take_next(self, record: Record) -> Taken | None:
        """`record` taken at once when it is its lane's next offset in the current generation, as nearly every
        record is; None when `admit` must decide (cheaper than its generator, once per event)."""
        partition = record.partition
        if (self._positions.begun(partition, generation=self._generation())
                and self._positions.place(partition, record.offset) is Placement.NEXT):
            return Taken(record, self._positions.take(partition, record.offset))
        return None

    async def admit(self, record: Record) -> AsyncIterator[Taken]:
        """The records to process for `record`: the skipped ones before it, then itself; none for a duplicate
        or for a partition this worker no longer owns (its new owner starts from the committed offset)."""
        partition, generation = record.partition, self._generation()
        if not self._positions.begun(partition, generation=generation):
            if generation != self._begun:
                await self._begin(generation)
            if not self._positions.begun(partition, generation=generation):
                return
        placement = self._positions.place(partition, record.offset)
        if placement is Placement.DUPLICATE:
            return
        if placement is Placement.GAP:
            start = self._positions.next_offset(partition)
            async for skipped in self._read(partition, start, record.offset):
                yield Taken(skipped, self._positions.take(partition, skipped.offset))
        yield Taken(record, self._positions.take(partition, record.offset))

    async def _begin(self, generation: int) -> None:
        """Begin the lanes of every owned partition at the group's committed offsets (earliest when none)."""
        tps = [TopicPartition(self._topic, partition) for partition in sorted(self._owned())]
        committed = await committed_offsets(self._settings, self._group, tps)
        missing = [tp for tp in tps if tp not in committed or committed[tp].offset < 0]
        earliest = await self._reader.beginning_offsets(missing) if missing else {}
        for tp in tps:
            offset = earliest[tp] if tp in earliest else committed[tp].offset
            self._positions.begin(tp.partition, generation=generation, committed=offset)
        self._begun = generation
        log.info("generation %d: %d partition(s) of %s begin at their committed offsets",
                 generation, len(tps), self._topic)

    async def _read(self, partition: int, start: int, end: int) -> AsyncIterator[Record]:
        """The records in [start, end) of a partition, straight from the broker."""
        tp = TopicPartition(self._topic, partition)
        self._reader.assign([tp])
        self._reader.seek(tp, start)
        deadline_s = time.monotonic() + self._gap_timeout_s
        found = 0
        try:
            while await self._reader.position(tp) < end:
                if time.monotonic() > deadline_s:
                    raise GapUnreadable(f"{self._topic} partition {partition} offsets {start} to {end - 1}")
                batch = await self._reader.getmany(tp, timeout_ms=1000)
                for raw in batch.get(tp, []):
                    if raw.offset < end:
                        found += 1
                        yield Record(partition, raw.offset, raw.key, raw.value, raw.timestamp / 1000, raw.headers)
        finally:
            self._reader.unsubscribe()  # no fetching ahead between gaps
        metrics.GAPS.labels(result="filled" if found else "empty").inc()
        if found:
            log.warning("%s partition %d: the stream skipped %d record(s) between offsets %d and %d; "
                        "read them from the broker", self._topic, partition, found, start, end - 1)
