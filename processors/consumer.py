"""Where the processor's Faust consumer departs from Faust's defaults (faust-streaming 0.15, pinned)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import faust
from faust.types import TP

from processors.positions import Positions


def keep_buffered_events(app: faust.App, stream: faust.StreamT[bytes]) -> None:
    """Stop Faust from emptying this stream's buffer when it resumes the flow after a recovery.

    Faust resumes the stream partitions, seeks them to the committed offsets and only then resumes the
    flow, which clears the buffers: records fetched between the seek and the clearing are dropped while
    the consumer's position has moved past them. Kept in the buffer they are processed; records that a
    seek fetches again are duplicates, which the processor's books (processors.positions) drop.
    """
    managed = cast(Any, app.flow_control)._queues
    managed.discard(cast(Any, stream).channel.queue)


def fetch_within(app: faust.App, max_wait_ms: int) -> None:
    """Let the broker hold a fetch for at most `max_wait_ms` instead of the 1,500 ms Faust fixes.

    Under load the event partitions often still have records buffered when the consumer builds its next
    fetch, so that fetch asks for the quiet config partitions alone, the broker holds it for the whole wait,
    and the events behind it wait as long: ~1.3 s of added latency from about a third of the processor's rate.
    Call before the app starts: the wait is read when Faust builds its aiokafka consumer.
    """
    thread = cast(Any, app.consumer)._thread
    create = thread._create_worker_consumer

    def create_worker_consumer(transport: Any) -> Any:
        consumer = create(transport)
        consumer._fetch_max_wait_ms = max_wait_ms
        return consumer

    thread._create_worker_consumer = create_worker_consumer


def commit_taken_offsets(app: faust.App, *, topic: str, positions: Positions) -> None:
    """Make Faust commit the processor's own books for `topic` (processors.positions) instead of its acks.

    Faust still decides when to commit (its interval, a revocation, the stop) and still tracks the events
    for its wait at the stop; only the offsets come from `positions`, for the current generation's lanes.
    """
    consumer = cast(Any, app.consumer)
    new_offset = consumer._new_offset
    with_pending_acks = consumer._filter_tps_with_pending_acks

    def offset_to_commit(tp: TP) -> int | None:
        if tp.topic != topic:
            return cast(int | None, new_offset(tp))
        for books in (consumer._acked, consumer._acked_index, consumer._gap):
            books.pop(tp, None)  # Faust's own books of the topic, unused
        return positions.committable_of(tp.partition, generation=app.consumer_generation_id)

    def partitions_to_commit(topics: Any = None) -> Iterator[TP]:
        ours = {TP(topic, partition) for partition in positions.committable(generation=app.consumer_generation_id)}
        for tp in ours | set(with_pending_acks(topics)):
            if topics is None or tp in topics or tp.topic in topics:
                yield tp

    consumer._new_offset = offset_to_commit
    consumer._filter_tps_with_pending_acks = partitions_to_commit
