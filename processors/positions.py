"""Which `call-events` offsets the processor took in this consumer generation, and which it may commit (pure).

Faust's own commit bookkeeping can pass an event after a rebalance: acks of events taken in an earlier
generation count in the new one, and a batch fetched before a seek but handed over after it makes Faust
drop the records the seek fetches again. So the processor keeps its own books. For each partition, a
*lane* starts at the group's committed offset when the partition is first seen in a generation. Offsets
are then taken in order, each once: an offset below the lane's next one was already taken (a duplicate), and
one above it is a gap, which the broker must show to be empty before the offset is taken. A commit is the
lowest taken offset not yet finished, and only while the generation that began the lane is the current one.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from typing import NamedTuple

from schemas.offsets import OffsetTracker


class Placement(enum.Enum):
    NEXT = "next"  # the lane's next offset: take it
    DUPLICATE = "duplicate"  # taken before in this lane
    GAP = "gap"  # beyond the next offset: the offsets in between must be read from the broker first


class Ticket(NamedTuple):
    """One taken offset, as its lane knows it; finishing a ticket of a replaced lane changes nothing."""

    partition: int
    lane: int
    offset: int


@dataclass
class _Lane:
    generation: int
    number: int
    offsets: OffsetTracker

    @property
    def next_offset(self) -> int:
        return self.offsets.next_offset or 0


class Positions:
    """The lanes of one topic's partitions."""

    def __init__(self) -> None:
        self._lanes: dict[int, _Lane] = {}
        self._numbers = itertools.count()

    def begun(self, partition: int, *, generation: int) -> bool:
        lane = self._lanes.get(partition)
        return lane is not None and lane.generation == generation

    def begin(self, partition: int, *, generation: int, committed: int) -> None:
        """Start the partition's lane at the group's committed offset; acks of an earlier lane stop counting."""
        self._lanes[partition] = _Lane(generation, next(self._numbers), OffsetTracker(start=committed))

    def place(self, partition: int, offset: int) -> Placement:
        next_offset = self.next_offset(partition)
        if offset == next_offset:
            return Placement.NEXT
        return Placement.DUPLICATE if offset < next_offset else Placement.GAP

    def next_offset(self, partition: int) -> int:
        return self._lanes[partition].next_offset

    def take(self, partition: int, offset: int) -> Ticket:
        """Take `offset`; any offsets between the lane's next one and it must be known to hold no record."""
        lane = self._lanes[partition]
        lane.offsets.start(offset)
        return Ticket(partition, lane.number, offset)

    def finish(self, ticket: Ticket) -> None:
        lane = self._lanes.get(ticket.partition)
        if lane is not None and lane.number == ticket.lane:
            lane.offsets.finish(ticket.offset)

    def committable(self, *, generation: int) -> dict[int, int]:
        """partition → the offset safe to commit, for the lanes begun in `generation`."""
        return {
            partition: offset
            for partition in self._lanes
            if (offset := self.committable_of(partition, generation=generation)) is not None
        }

    def committable_of(self, partition: int, *, generation: int) -> int | None:
        """The partition's offset safe to commit, if its lane was begun in `generation`."""
        lane = self._lanes.get(partition)
        return lane.offsets.committable() if lane is not None and lane.generation == generation else None
