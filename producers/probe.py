"""`callapi-events probe`: one synthetic call event through the whole pipeline, followed to every URL it owes.

The probe reads the extension's enabled requests of the event's type from PostgreSQL, so it knows the jobs
the processor owes (job ids are derived from the event id and the Request ID), writes the event to
`call-events` through the producer SDK, and watches the delivery log until each job is delivered or has
failed for good, or the time is up. The receivers get an ordinary notification; its CallID starts with
`probe.` and CallerIDName says `CallAPI Events probe`, so they can tell it from a call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from producers.sdk import CallEventProducer
from schemas.attempts import Outcome
from schemas.events import CallEvent, EventType
from schemas.jobs import job_id_for
from schemas.request_rows import extension_requests
from schemas.requests import EventRequest
from schemas.settings import Settings
from schemas.synthetic import caller_name, synthetic_event

FINAL = frozenset({Outcome.DELIVERED, Outcome.FAILED, Outcome.DISABLED})
PROBE_CALLER = caller_name("probe")
POLL_S = 0.5


@dataclass(frozen=True)
class Attempt:
    attempt: int
    outcome: Outcome
    status_code: int | None
    error: str | None
    attempted_at: datetime


@dataclass
class Followed:
    """One job the event owes: its request and the attempts seen so far in the delivery log."""

    request: EventRequest
    job_id: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome | None:
        return self.attempts[-1].outcome if self.attempts else None

    @property
    def done(self) -> bool:
        return self.outcome in FINAL

    def delivered_after_s(self, event: CallEvent) -> float | None:
        """From the event's occurred_at to the end of the attempt that delivered it."""
        if self.outcome is not Outcome.DELIVERED:
            return None
        return (self.attempts[-1].attempted_at - event.occurred_at).total_seconds()


def owed(event: CallEvent, requests: list[EventRequest]) -> list[Followed]:
    """The jobs the processor owes for `event`: one per enabled request of its type (as schemas.join)."""
    return [Followed(request, job_id_for(event.event_id, request.id))
            for request in requests if request.enabled and request.type == event.type]


def configured_requests(database_url: str, extension: str) -> list[EventRequest]:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        return extension_requests(conn, extension)


def extension_exists(database_url: str, extension: str) -> bool:
    """Whether the control plane has this extension (canonical form) at all."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        return conn.execute("SELECT 1 FROM extensions WHERE number = %s", (extension,)).fetchone() is not None


_ATTEMPTS_SQL = """
SELECT job_id, attempt, outcome, status_code, error, attempted_at FROM delivery_log
WHERE job_id = ANY(%s) AND attempted_at >= %s ORDER BY attempted_at, attempt
"""


def _attempts(database_url: str, job_ids: list[str], since: datetime) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        return conn.execute(_ATTEMPTS_SQL, (job_ids, since)).fetchall()


@dataclass
class Probe:
    event: CallEvent
    jobs: list[Followed]
    where: str = ""
    """The event's partition:offset on call-events, once written."""
    timed_out: bool = False

    @property
    def done(self) -> bool:
        return all(job.done for job in self.jobs)

    @property
    def delivered(self) -> bool:
        return self.done and all(job.outcome is Outcome.DELIVERED for job in self.jobs)

    def record(self, rows: list[tuple[Any, ...]]) -> None:
        by_id = {job.job_id: job for job in self.jobs}
        for job in self.jobs:
            job.attempts.clear()
        for job_id, attempt, outcome, status_code, error, attempted_at in rows:
            by_id[job_id].attempts.append(Attempt(attempt, Outcome(outcome), status_code, error, attempted_at))


async def run_probe(settings: Settings, probe: Probe, *, timeout_s: float, on_change: Callable[[Probe], None],
                    clock_s: Callable[[], float] = time.monotonic) -> Probe:
    """Write the probe's event, then follow its jobs in the delivery log until all are final or time is up.
    TopicMissing when `call-events` does not exist, before the first `on_change`."""
    async with CallEventProducer(settings=settings) as producer:
        await producer.require_topic()
        on_change(probe)  # the jobs it owes, waiting: shown while the event is written
        written = await producer.send_and_wait(probe.event)
    probe.where = f"{written.partition}:{written.offset}"
    on_change(probe)
    since = probe.event.occurred_at - timedelta(minutes=1)  # the log's daily partitions: read only recent ones
    deadline = clock_s() + timeout_s
    job_ids = [job.job_id for job in probe.jobs]
    seen = 0
    while not probe.done:
        if clock_s() >= deadline:
            probe.timed_out = True
            break
        await asyncio.sleep(POLL_S)
        rows = await asyncio.to_thread(_attempts, settings.database_url, job_ids, since)
        if len(rows) != seen:
            seen = len(rows)
            probe.record(rows)
            on_change(probe)
    return probe


def new_probe(settings: Settings, extension: str, event_type: EventType) -> Probe:
    """The event and the jobs it owes, read from PostgreSQL (raises psycopg.OperationalError)."""
    event = synthetic_event(extension, event_type, now=datetime.now(UTC), kind="probe")
    return Probe(event, owed(event, configured_requests(settings.database_url, extension)))
