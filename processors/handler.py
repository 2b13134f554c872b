"""What the processor does with one record: thin shells around the pure join and the codec."""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from processors import metrics
from processors.records import decode_event, decode_requests
from processors.sink import OutRecord
from schemas.codec import encode
from schemas.errors import InvalidRecord
from schemas.join import join, pack_requests, unpack_requests
from schemas.letters import dead_letter_headers, fit_letter
from schemas.publisher import partition_for
from schemas.sequence import RecordHeaders, partitions_header, placed_by, sequence_of
from schemas.topics import TopicNames

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Outcome(NamedTuple):
    """What one record owes Kafka (its jobs, or its dead letter) and what to count once they are acknowledged."""

    records: list[OutRecord]
    result: str  # joined, no_match, rekeyed or dlq (the `result` label of callapi_processor_events_total)
    timestamp_s: float | None = None
    reason: str = ""  # the dead letter's reason


# Each result's series, looked up once: `labels()` cost more than the count itself, once per event.
_EVENTS = {result: metrics.EVENTS.labels(result=result) for result in ("joined", "no_match", "rekeyed", "dlq")}


def count(outcome: Outcome, *, now_s: float) -> None:
    """Count a record whose outcome Kafka acknowledged; the latency runs from its record timestamp to `now_s`."""
    _EVENTS[outcome.result].inc()
    if outcome.result == "joined":
        metrics.JOBS.inc(len(outcome.records))
        if outcome.timestamp_s:
            metrics.LATENCY.observe(max(0.0, now_s - outcome.timestamp_s))
    elif outcome.result == "dlq":
        metrics.DEAD_LETTERS.labels(reason=outcome.reason).inc()


class EventHandler:
    """Joins one call event with its extension's requests into the records it owes; bad records → DLQ.

    `outcome` only computes; the records are sent and their acknowledgement awaited by the caller
    (processors.pipeline), which acks the event only after that.
    """

    def __init__(
        self, *, topics: TopicNames, max_event_bytes: int, lookup: Callable[[bytes, int], bytes | None],
        partitions: int, clock: Clock = utc_now,
    ) -> None:
        self._topics = topics
        self._partitions = partitions  # call-events' count: the sequence's of events without a `partitions` header
        self._max_event_bytes = max_event_bytes
        self._lookup = lookup
        self._clock = clock

    def outcome(
        self, key: bytes | None, value: bytes | None, *, partition: int, offset: int, timestamp_s: float | None,
        headers: RecordHeaders | None = None,
    ) -> Outcome:
        try:
            event = decode_event(key, value, max_bytes=self._max_event_bytes)
            if key != (canonical := event.extension.encode()):
                return self._rekeyed(canonical, value, partition=partition, offset=offset)
            sequence = sequence_of(offset, placed_by(headers, self._partitions))
            jobs = join(event, unpack_requests(self._lookup(key or b"", partition)), sequence=sequence,
                        processed_at=self._clock())
        except InvalidRecord as error:
            return self._dead_letter(key, value, error, partition=partition, offset=offset)
        except Exception as error:  # a record that trips a bug must not stop the partition
            log.exception("cannot process call-events partition %d offset %d", partition, offset)
            failure = InvalidRecord("processing_error", f"{type(error).__name__}: {error}")
            return self._dead_letter(key, value, failure, partition=partition, offset=offset)
        if not jobs:
            return Outcome([], "no_match")
        records = [OutRecord(self._topics.deliveries, key, encode(job)) for job in jobs]
        return Outcome(records, "joined", timestamp_s)

    def _rekeyed(self, key: bytes, value: bytes | None, *, partition: int, offset: int) -> Outcome:
        """An event keyed by the extended form of its extension, or not keyed: back on call-events, unchanged,
        under the canonical key, so it meets its extension's partition of the config table; with the partition
        count it is placed by, as the producer SDK writes it (schemas/sequence.py)."""
        log.info("call-events partition %d offset %d is not keyed by its canonical extension: put back as %s",
                 partition, offset, key.decode())
        return Outcome([OutRecord(self._topics.call_events, key, value, partitions_header(self._partitions))],
                       "rekeyed")

    def _dead_letter(
        self, key: bytes | None, value: bytes | None, error: InvalidRecord, *, partition: int, offset: int,
    ) -> Outcome:
        log.warning(
            "call-events partition %d offset %d → %s: %s: %s",
            partition, offset, self._topics.call_events_dlq, error.reason, error.detail,
        )
        headers = dead_letter_headers(error, topic=self._topics.call_events, partition=partition, offset=offset)
        key, value, cut = fit_letter(key, value)
        letter = OutRecord(self._topics.call_events_dlq, key, value, headers + cut)
        return Outcome([letter], "dlq", reason=error.reason)


_PARTITION_BYTES = 2


@dataclass
class LeftBehind:
    """Copies of lists read off their key's own partition: left on a key's old partition when partitions were added.

    They sit beside the table, not in it: a worker owning a moved extension's old and new partitions holds both
    copies, so a rebalance that takes the new partition away and leaves the old one still has the list for the
    events waiting there (written before `call-events` grew, or by a producer not yet aware of the new count).
    Kept per old partition: after several growths (3 → 6 → 12) an extension has a copy on each of its old partitions,
    and each serves only the events on its partition, placed there by the same count that placed the copy (both topics
    always have one count). So a rebalance or a removal on one old partition ends that copy alone.
    Empty until partitions are added; then at most the moved extensions of the old partitions owned here.
    """

    partitions: int  # the topic's count, which places each key on its own partition
    copies: dict[int, dict[bytes, bytes]] = field(default_factory=dict)  # old partition → extension → packed list

    def count(self) -> int:
        """The copies held: one per (old partition, extension)."""
        return sum(map(len, self.copies.values()))

    def forget(self, partition: int, extension: bytes) -> None:
        """End the copy on `partition`, if held; a partition left without copies goes too (`copies` empty: none)."""
        if (held := self.copies.get(partition)) is not None and held.pop(extension, None) is not None and not held:
            del self.copies[partition]


def apply_config(
    store: MutableMapping[bytes, bytes], key: bytes | None, value: bytes | None, *, partition: int,
    left: LeftBehind | None = None,
) -> str:
    """Apply one `event-requests` record to the table; returns the result counted in the metrics.

    Only extensions with enabled requests have an entry, so the table holds no dead weight. Each value is
    prefixed with its partition, so entries of partitions this worker no longer owns can be dropped after
    a rebalance (`drop_foreign`) without a second per-key map. An unreadable record leaves the table as it
    was (logged and counted): it is written only from the control plane's outbox, so it signals a bug
    there, and the previous config is the best remaining knowledge.

    With `left`, a record away from its key's own partition is the copy left on the old one when partitions were
    added: kept aside in `left`, it serves the events still written there, but never replaces or removes the list
    from the key's own partition.
    """
    try:
        extension, requests = decode_requests(key, value)
    except InvalidRecord as error:
        log.error("unreadable event-requests record for key %r: %s: %s", key, error.reason, error.detail)
        return "invalid"
    packed = pack_requests(requests)
    if left is not None and partition != partition_for(extension, left.partitions):
        if packed is not None:
            left.copies.setdefault(partition, {})[extension] = packed
        else:  # a removal there ends only its own copy
            left.forget(partition, extension)
        return "left_behind"
    if packed is None:
        store.pop(extension, None)
        if left is not None:  # the list's own partition removed it: an old copy would bring back a stale list
            for old in list(left.copies):
                left.forget(old, extension)
        return "removed"
    store[extension] = _tagged(partition, packed)
    return "set"


def lookup_packed(
    store: MutableMapping[bytes, bytes], extension: bytes, left: LeftBehind | None = None, partition: int = -1,
) -> bytes | None:
    """The packed requests of an extension (see `apply_config`): its own partition's list, else the copy left on
    `partition`, the event's (without it, none).

    Not a copy on another old partition: whether this worker holds one depends on which partitions it was given, and
    the event's own partition has the copy of the count that placed it there."""
    if value := store.get(extension):
        return value[_PARTITION_BYTES:]
    if left is None or not left.copies:  # no growth: nothing more to look up
        return None
    held = left.copies.get(partition)
    return held.get(extension) if held is not None else None


def _tagged(partition: int, packed: bytes) -> bytes:
    return partition.to_bytes(_PARTITION_BYTES, "big") + packed


def _partition_of(value: bytes) -> int:
    return int.from_bytes(value[:_PARTITION_BYTES], "big")


def drop_foreign(store: MutableMapping[bytes, bytes], partitions: set[int], left: LeftBehind | None = None) -> int:
    """Remove the entries of partitions not in `partitions`; returns how many were removed.

    Old copies go with their partition too, and when their key's own partition is owned here but gave no entry:
    it removed the extension, maybe read before the old copy (a recovery reads partitions in any order)."""
    foreign = [key for key, value in store.items() if _partition_of(value) not in partitions]
    for key in foreign:
        del store[key]
    if left is not None:
        for old in [old for old in left.copies if old not in partitions]:
            del left.copies[old]
        for old, held in list(left.copies.items()):
            for key in [key for key in held if key not in store and partition_for(key, left.partitions) in partitions]:
                left.forget(old, key)
    return len(foreign)
