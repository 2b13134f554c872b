"""Pipelined sends, in-order acks: many events' jobs in flight to Kafka, each event acked after its jobs.

The agent takes events in order, hands each event's records to the producer without waiting
(`submit`), and queues the event. The acknowledger (`run`) takes the queue's head, waits until Kafka
acknowledged every record of it, and only then acks the event, strictly in the order the events were
taken. The committed offset is the lowest taken event not yet acked (processors.positions), so a commit
never passes an event whose jobs are not on the broker, and a kill at any moment loses no job (the
unacked events are processed again: duplicates, same job ids).
The queue is bounded (`max_in_flight`), which bounds both memory and what a restart processes again.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from processors.handler import Outcome, count
from processors.sink import Ack, KafkaSink, settle

E = TypeVar("E")

MAX_IN_FLIGHT = 500


@dataclass
class _InFlight(Generic[E]):
    event: E
    outcome: Outcome
    acks: list[Ack]
    resent: bool = False  # acknowledged by `_send_again_from_head`; `acks` may hold failures


class InOrderAcker(Generic[E]):
    """A bounded FIFO of events whose records are sent but not yet acknowledged; acks them in order."""

    def __init__(
        self, *, sink: KafkaSink, ack: Callable[[E], Awaitable[object]], max_in_flight: int = MAX_IN_FLIGHT,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        self._sink = sink
        self._ack = ack
        self._clock_s = clock_s
        self._items: deque[_InFlight[E]] = deque()
        self._room = asyncio.Semaphore(max_in_flight)
        self._arrived = asyncio.Event()
        self._sending = asyncio.Lock()  # held while records go to the producer: sends stay in queue order

    def __len__(self) -> int:
        return len(self._items)

    async def submit(self, event: E, outcome: Outcome) -> None:
        """Send the event's records and queue the event; waits while `max_in_flight` events are queued."""
        await self._room.acquire()
        async with self._sending:
            acks = self._sink.send(outcome.records)
            self._items.append(_InFlight(event, outcome, acks))
        self._arrived.set()

    async def run(self) -> None:
        """Ack the queued events in order, each once Kafka acknowledged its records; runs until cancelled."""
        while True:
            if not self._items:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            head = self._items[0]
            if not head.resent and await settle(head.outcome.records, head.acks) is not None:
                await self._send_again_from_head()
            self._items.popleft()
            self._room.release()
            count(head.outcome, now_s=self._clock_s())
            await self._ack(head.event)

    async def _send_again_from_head(self) -> None:
        """Send again, in order, everything from the head's first failed record through the last queued one.

        Later records may already be on the broker, so they go again after the failed ones; submissions wait
        meanwhile. The last copy of each job on a partition is therefore in order (duplicates keep their job
        id), and every queued event's records are acknowledged when this returns.
        """
        async with self._sending:
            items = list(self._items)
            records = [record for item in items for record in item.outcome.records]
            first_failed = await settle(records, [ack for item in items for ack in item.acks])
            if first_failed is not None:
                await self._sink.send_all(records[first_failed:])
            for item in items:
                item.resent = True
