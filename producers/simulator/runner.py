"""Run the generator in real time: send each event when its time comes, through the SDK."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from producers.errors import DeliveryFailed
from producers.sdk import CallEventProducer, Delivered
from producers.simulator.generator import Plan, Timeline
from schemas.events import CallEvent

MAX_IN_FLIGHT = 20_000
"""Unacknowledged events at most; beyond it the run waits for Kafka (backpressure, bounded memory)."""


def planned_events(
    plan: Plan | Timeline, *, start: datetime, count: int | None = None, duration_s: float | None = None,
) -> Iterator[CallEvent]:
    """The events a run sends: the first `count`, or those in the first `duration_s` (whichever ends first)."""
    stream = (plan if isinstance(plan, Timeline) else Timeline(plan)).events(start=start)
    if duration_s is not None:
        end = start + timedelta(seconds=duration_s)
        stream = itertools.takewhile(lambda event: event.occurred_at < end, stream)
    return itertools.islice(stream, count) if count is not None else stream


@dataclass
class RunStats:
    sent: Counter[str] = field(default_factory=Counter)
    acked: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def total_acked(self) -> int:
        return sum(self.acked.values())

    @property
    def total_failed(self) -> int:
        return sum(self.failed.values())


async def run(
    plan: Plan | Timeline, *, producer: CallEventProducer, start: datetime, count: int | None = None,
    duration_s: float | None = None, paced: bool = True, on_event: Callable[[RunStats], None] = lambda _: None,
    stats: RunStats | None = None,
) -> RunStats:
    """Send the planned events, each at start + its offset (or as fast as possible when not `paced`). Give a
    Timeline made before `start` was taken: made here, its warm-up would make the first events late.

    Counts into `stats` (a new one by default): the caller's still tells what went after Ctrl-C."""
    stats = stats if stats is not None else RunStats()
    began = time.monotonic()
    try:
        return await _send_all(plan, producer, stats, start=start, count=count, duration_s=duration_s, paced=paced,
                               on_event=on_event, began=began)
    finally:
        stats.elapsed_s = time.monotonic() - began


async def _send_all(
    plan: Plan | Timeline, producer: CallEventProducer, stats: RunStats, *, start: datetime, count: int | None,
    duration_s: float | None, paced: bool, on_event: Callable[[RunStats], None], began: float,
) -> RunStats:
    pending: set[asyncio.Future[Delivered]] = set()
    # `start` on the monotonic clock: each event goes at its planned time, also when the run begins after
    # `start` (the producer connecting): the events already due go at once instead of every event later.
    start_s = began - (datetime.now(UTC) - start).total_seconds()
    for event in planned_events(plan, start=start, count=count, duration_s=duration_s):
        if paced:
            await _wait_until(start_s + (event.occurred_at - start).total_seconds())
        if len(pending) >= MAX_IN_FLIGHT:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        delivery = await producer.send(event)
        stats.sent[event.type.slug] += 1
        pending.add(delivery)
        delivery.add_done_callback(functools.partial(_settled, stats, pending, slug=event.type.slug))
        on_event(stats)
    if pending:
        await asyncio.wait(pending)
    return stats


async def _wait_until(monotonic_s: float) -> None:
    delay_s = monotonic_s - time.monotonic()
    if delay_s > 0.002:
        await asyncio.sleep(delay_s)


def _settled(stats: RunStats, pending: set[asyncio.Future[Delivered]], done: asyncio.Future[Delivered], *,
             slug: str) -> None:
    pending.discard(done)
    error = done.exception()
    if error is None:
        stats.acked[slug] += 1
        return
    stats.failed[slug] += 1
    if len(stats.errors) < 5:
        stats.errors.append(str(error.cause if isinstance(error, DeliveryFailed) else error))
