"""The consuming shell: many jobs of one partition at once, commits only below the lowest unfinished job.

Jobs from a delay topic whose `not_before` lies ahead pause their partition (and rewind it to that record)
until they are due, so they never hold up other partitions or topics; and never longer than their topic's own
delay after they were written: a job due later than that (a jitter or a Retry-After longer than the topic's
delay) is then handed on (the handler puts it on another delay topic), so the records behind it, all written
later to the same delay, are not held up past their own due time.

An unreadable record is a job of its own too: its dead letter is published without holding up the records
behind it, and its offset is finished only once Kafka acknowledged the letter.

On a rebalance, revoked partitions get a bounded moment to finish, what is safe is committed, and their
bookkeeping is dropped: a job finishing later for a partition this worker no longer owns commits nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from schemas.codec import decode
from schemas.errors import InvalidRecord
from schemas.jobs import DeliveryJob
from schemas.offsets import OffsetTracker

log = logging.getLogger(__name__)

JobHandler = Callable[[DeliveryJob, Callable[[], None]], Awaitable[None]]
"""handle(job, sending): calls sending() when its HTTP request is about to go out."""
InvalidHandler = Callable[[ConsumerRecord[bytes, bytes], InvalidRecord], Awaitable[None]]
"""invalid(record, error): dead-letters an unreadable record; returns once Kafka acknowledged the letter."""
Record: TypeAlias = ConsumerRecord[bytes, bytes]


def _decoded(record: Record) -> DeliveryJob | InvalidRecord:
    try:
        return decode(DeliveryJob, record.value or b"")
    except InvalidRecord as error:
        return error


class JobConsumer(ConsumerRebalanceListener):
    def __init__(
        self, *, consumer: AIOKafkaConsumer, handle: JobHandler, invalid: InvalidHandler, max_in_flight: int,
        drain_s: float, commit_interval_s: float, topic_delay_s: Callable[[str], float | None] = lambda topic: None,
    ) -> None:
        self._consumer = consumer
        self._handle = handle
        self._invalid = invalid
        self._max_in_flight = max_in_flight
        self._slot_freed: asyncio.Future[None] | None = None
        """Set when a job ends while `_dispatch` waits for one (it alone waits: a future, not a semaphore)."""
        self._drain_s = drain_s
        self._commit_interval_s = commit_interval_s
        self._topic_delay_s = topic_delay_s
        """A delay topic's delay (None for other topics): how long a record may hold its partition after it was
        written."""
        self._topic_delays_s: dict[str, float | None] = {}
        self._trackers: dict[TopicPartition, OffsetTracker] = {}
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._resumes: dict[TopicPartition, asyncio.TimerHandle] = {}
        self._in_flight = 0
        self._stopping = asyncio.Event()
        self.failed = False
        self._running = False

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def ready(self) -> bool:
        """Running and not stopping (a worker with no partitions, in a group larger than them, is ready)."""
        return self._running and not self._stopping.is_set()

    def stop(self) -> None:
        """Stop fetching; `run` then finishes what is in flight (bounded), commits and returns."""
        self._stopping.set()

    async def run(self) -> None:
        committer = asyncio.create_task(self._commit_periodically())
        self._running = True
        try:
            while not self._stopping.is_set():
                batch = await self._consumer.getmany(timeout_ms=200)
                for tp, records in batch.items():
                    await self._dispatch(tp, records)
        finally:
            committer.cancel()
            for handle in self._resumes.values():
                handle.cancel()
            await self._hand_over(list(self._tasks))
            await self.commit()

    async def _dispatch(self, tp: TopicPartition, records: list[Record]) -> None:
        tracker = self._trackers.get(tp)
        for record in records:
            if tracker is None or self._trackers.get(tp) is not tracker or self._stopping.is_set():
                return  # revoked (or stopping) meanwhile: the next owner reads from the committed offset
            job = _decoded(record)
            if isinstance(job, DeliveryJob) and self._hold_until_due(tp, record, job):
                return
            if self._in_flight >= self._max_in_flight:
                await self._slot()
                if self._trackers.get(tp) is not tracker:
                    return
            tracker.start(record.offset)
            self._start(tp, tracker, record, job)
            if record.offset % 32 == 0:
                await asyncio.sleep(0)  # let started jobs run between records of a large batch

    def _hold_until_due(self, tp: TopicPartition, record: Record, job: DeliveryJob) -> bool:
        """Pause the partition at a job that is not due yet; resume it when the job is."""
        if job.not_before is None:
            return False
        wait_s = (job.not_before - datetime.now(UTC)).total_seconds()
        if wait_s <= 0:
            return False
        if tp.topic not in self._topic_delays_s:
            self._topic_delays_s[tp.topic] = self._topic_delay_s(tp.topic)
        topic_delay_s = self._topic_delays_s[tp.topic]
        if topic_delay_s is not None:
            wait_s = min(wait_s, record.timestamp / 1000 + topic_delay_s - time.time())
            if wait_s <= 0:
                return False  # its topic's delay is over: the handler moves it on to wait elsewhere
        self._consumer.pause(tp)
        self._consumer.seek(tp, record.offset)
        loop = asyncio.get_running_loop()
        self._resumes[tp] = loop.call_later(wait_s, self._resume, tp)
        return True

    def _resume(self, tp: TopicPartition) -> None:
        self._resumes.pop(tp, None)
        if tp in self._consumer.assignment():
            self._consumer.resume(tp)

    async def _slot(self) -> None:
        """Wait until fewer than `max_in_flight` jobs run."""
        while self._in_flight >= self._max_in_flight:
            self._slot_freed = asyncio.get_running_loop().create_future()
            await self._slot_freed

    def _start(self, tp: TopicPartition, tracker: OffsetTracker, record: Record,
               job: DeliveryJob | InvalidRecord) -> None:
        """The job's task; its slot is freed when the task ends, also when it is cancelled before it ran."""
        tasks = self._tasks.setdefault(tp, set())

        def sending() -> None:
            self._sending.add(task)

        def ended(_: asyncio.Task[None]) -> None:
            tasks.discard(task)
            self._sending.discard(task)
            self._in_flight -= 1
            if self._slot_freed is not None and not self._slot_freed.done():
                self._slot_freed.set_result(None)

        task = asyncio.create_task(self._run_job(tp, tracker, record, job, sending))
        self._in_flight += 1
        tasks.add(task)
        task.add_done_callback(ended)

    async def _run_job(self, tp: TopicPartition, tracker: OffsetTracker, record: Record,
                       job: DeliveryJob | InvalidRecord, sending: Callable[[], None]) -> None:
        """A job, or an unreadable record whose dead letter is owed: finished once its records are acknowledged."""
        try:
            if isinstance(job, InvalidRecord):
                sending()  # its dead letter is on its way: a revocation lets it finish rather than send it twice
                await self._invalid(record, job)
            else:
                await self._handle(job, sending)
        except Exception:
            # A bug, not an outcome: stop the worker (exit 1) rather than skip the job or let its partition's
            # commits stall unseen. The job is unfinished, so whoever owns the partition next redoes it.
            what = "an unreadable record" if isinstance(job, InvalidRecord) else f"job {job.job_id}"
            log.exception("%s at %s@%d failed unexpectedly; stopping the worker", what, tp, record.offset)
            self.failed = True
            self.stop()
            return
        tracker.finish(record.offset)

    async def _hand_over(self, partitions: list[TopicPartition]) -> None:
        """Jobs not yet sending are dropped (unfinished: the next owner does them); requests already out get
        a bounded moment to finish, so they are not sent twice."""
        tasks = [task for tp in partitions for task in self._tasks.get(tp, ())]
        for task in tasks:
            if task not in self._sending:
                task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self._drain_s)

    async def commit(self, partitions: list[TopicPartition] | None = None) -> None:
        assigned = self._consumer.assignment()
        wanted = assigned if partitions is None else assigned & set(partitions)
        chosen = {tp: t for tp, t in self._trackers.items() if tp in wanted}
        offsets = {tp: offset for tp, t in chosen.items() if (offset := t.to_commit()) is not None}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:
            log.warning("commit failed (%s); the next commit covers it", error)
            return
        for tp, offset in offsets.items():
            chosen[tp].mark_committed(offset)

    async def _commit_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._commit_interval_s)
            await self.commit()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        gone = list(revoked)
        for tp in gone:
            handle = self._resumes.pop(tp, None)
            if handle is not None:
                handle.cancel()
        await self._hand_over(gone)
        await self.commit(gone)
        for tp in gone:
            self._trackers.pop(tp, None)
            self._tasks.pop(tp, None)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            self._trackers.setdefault(tp, OffsetTracker())
        log.info("assigned %d partitions", len(assigned))
