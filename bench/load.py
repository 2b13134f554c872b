"""Load for the benchmarks, through the producer SDK: a backlog as fast as it goes, or simulated traffic paced
at a rate, with each event's `occurred_at` set when it is sent (so latency starts at the producer)."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from producers.sdk import CallEventProducer, Failed
from producers.simulator.generator import Plan, Timeline
from producers.simulator.runner import planned_events
from schemas.collector import SENDING_YOUNG_THRESHOLD, collecting_less_often
from schemas.events import CallEvent
from schemas.jobs import job_id_for
from schemas.requests import EventRequest
from schemas.settings import Settings

BATCH = 2000


@dataclass(frozen=True)
class Sent:
    events: list[CallEvent]
    elapsed_s: float

    @property
    def rate_eps(self) -> float:
        return len(self.events) / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def _backlog(settings: Settings, events: list[CallEvent]) -> Sent:
    began = time.perf_counter()
    async with CallEventProducer(settings=settings, linger_ms=20, client_id="callapi-bench") as producer:
        for start in range(0, len(events), BATCH):
            outcomes = await producer.send_many(events[start:start + BATCH])
            failed = [o for o in outcomes if isinstance(o, Failed)]
            if failed:
                raise RuntimeError(f"{len(failed)} events were not written, e.g. {failed[0]}")
    return Sent(events, time.perf_counter() - began)


def backlog(settings: Settings, plan: Plan, count: int) -> Sent:
    """`count` simulated events written as fast as the SDK goes, stamped with the time they are built."""
    with collecting_less_often(SENDING_YOUNG_THRESHOLD) as warmed_up:
        now = datetime.now(UTC)
        events = [e.model_copy(update={"occurred_at": now}) for e in planned_events(plan, start=now, count=count)]
        warmed_up()  # the events live through the run
        return asyncio.run(_backlog(settings, events))


async def _paced(settings: Settings, plan: Plan, duration_s: float) -> Sent:
    sent: list[CallEvent] = []
    pending = []
    timeline = Timeline(plan)  # the population and the warm-up (seconds at high rates): before the clock starts
    start = datetime.now(UTC)
    async with CallEventProducer(settings=settings, client_id="callapi-bench") as producer:
        began = time.monotonic()
        for event in planned_events(timeline, start=start, duration_s=duration_s):
            delay_s = began + (event.occurred_at - start).total_seconds() - time.monotonic()
            if delay_s > 0.001:
                await asyncio.sleep(delay_s)
            stamped = event.model_copy(update={"occurred_at": datetime.now(UTC)})
            pending.append(await producer.send(stamped))
            sent.append(stamped)
        await producer.flush()  # the last batch goes now: gathering every future holds the loop past its linger
        await asyncio.gather(*pending)
    return Sent(sent, time.monotonic() - began)


def paced(settings: Settings, plan: Plan, duration_s: float) -> Sent:
    """The simulator's traffic at `plan.rate_eps` for `duration_s`, sent in real time.

    Without the cycle collector (not just collected less, as `backlog`): its full passes over the run's growing
    lists of events and futures stalled the sending for 60-130 ms (every event of that moment then went at once,
    and counted the wait as latency)."""
    gc.disable()
    try:
        return asyncio.run(_paced(settings, plan, duration_s))
    finally:
        gc.enable()


def occurred_at_by_job(events: Iterable[CallEvent], config: dict[str, list[EventRequest]]) -> dict[str, float]:
    """webhook-id → the epoch second its event occurred, for every job the events owe."""
    return {
        job_id_for(event.event_id, request.id): event.occurred_at.timestamp()
        for event in events
        for request in config.get(event.extension, [])
        if request.enabled and request.type == event.type
    }


def percentiles_ms(latencies_s: list[float]) -> dict[str, float]:
    if not latencies_s:
        return {"count": 0}
    ordered = sorted(latencies_s)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1)

    return {"count": len(ordered), "p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99),
            "max_ms": round(ordered[-1] * 1000, 1), "mean_ms": round(statistics.fmean(ordered) * 1000, 1)}
