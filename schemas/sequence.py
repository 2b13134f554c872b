"""X-CallAPI-Sequence: a job's per-extension order, from its event's place on `call-events`.

An event's offset orders the events of one extension while they share one partition, but when partitions are
added (`topics grow`) a moved extension's events go on from a new partition's low offsets. So the sequence also
carries the partition count the producer placed the event by, which only grows: `count * OFFSET_SPAN + offset`.
The producer SDK records that count in the record's `partitions` header; an event written without it (by another
client) counts with the topic's count when the event is joined. Either way an event joined again, or replayed,
gets the sequence it had, unless partitions were added in between and it has no header.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

PARTITIONS_HEADER = "partitions"
OFFSET_SPAN = 10**12
"""Above any offset one partition reaches (a trillion records), and small enough that a sequence stays an exact
integer in JavaScript (2^53) for up to 9,007 partitions."""

RecordHeaders = Iterable[tuple[str, bytes]]  # as a Kafka client reads them


@lru_cache(maxsize=64)
def partitions_header(count: int) -> list[tuple[str, bytes]]:
    """The header a producer writes with a record placed among `count` partitions (one shared list: read only)."""
    return [(PARTITIONS_HEADER, str(count).encode())]


def placed_by(headers: RecordHeaders | None, default: int) -> int:
    """The partition count the producer placed the record by (its `partitions` header), else `default`."""
    for name, value in headers or ():
        if name == PARTITIONS_HEADER:
            return int(value) if value.isdigit() and int(value) > 0 else default
    return default


def sequence_of(offset: int, partitions: int) -> int:
    return partitions * OFFSET_SPAN + offset
