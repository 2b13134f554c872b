"""Where the processor's Faust consumer departs from Faust's defaults (faust-streaming 0.15, pinned)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import faust
from faust.types import TP, Message

from processors.positions import Positions

MAX_BUFFERED = 4096  # Faust's stream_buffer_maxsize, which bounded the stream's queue


class Inbox:
    """The `call-events` records Faust's consumer fetched, waiting for the join agent, in fetch order."""

    def __init__(self, max_size: int = MAX_BUFFERED) -> None:
        self._messages: deque[Message] = deque()
        self._max_size = max_size
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def put(self, message: Message) -> None:
        self._messages.append(message)
        self._arrived.set()
        if len(self._messages) >= self._max_size:
            self._room.clear()

    async def wait_for_room(self) -> None:
        await self._room.wait()

    async def take(self) -> list[Message]:
        """Every record waiting, oldest first; waits for one when there is none."""
        while not self._messages:
            self._arrived.clear()
            await self._arrived.wait()
        taken = list(self._messages)
        self._messages.clear()
        self._room.set()
        return taken


def take_records(app: faust.App, *, topic: str, inbox: Inbox) -> None:
    """Hand `topic`'s fetched records to `inbox` as they come, instead of through Faust's conductor and stream.

    Faust's fetch loop awaits two tasks per record (its channel's put raced against a flow stop), decodes it,
    queues it as an event and runs its sensors again in the stream: about a third of the processor's CPU per
    event. The agent owns ordering and offsets anyway (processors.positions), so it reads the records
    straight from `inbox`; the other topics (the config table's) go Faust's way. Faust still pauses and
    resumes the partitions, and stops fetching at a rebalance. The loop waits after a batch while `inbox`
    is full. Call before the app starts: Faust's fetch loop looks `getmany` up when it starts.
    """
    consumer = cast(Any, app.consumer)
    getmany = consumer.getmany

    async def getmany_of_other_topics(timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109
        async for tp, message in getmany(timeout=timeout):
            if tp.topic == topic:
                inbox.put(message)
            else:
                yield tp, message
        await inbox.wait_for_room()

    consumer.getmany = getmany_of_other_topics


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
