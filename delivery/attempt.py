"""One job, one attempt: circuit and host checks, the HTTP request, the decision, and its records.

A job is finished when every record it owes is acknowledged by Kafka (the attempt, and the retry job or
the dead letter); only then may the consumer commit past it.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel

from delivery.circuit import Circuit, Circuits, State
from delivery.errors import DisableFailed, DisableTimedOut, HostStalled, TransportError
from delivery.gone import RequestDisabler
from delivery.hosts import HostLimiter, destination_key
from delivery.http import HttpClient
from delivery.metrics import DeliveryMetrics
from delivery.policy import Action, AttemptResult, Decision, decide, defer_for_circuit, retry_topic_delay_s
from delivery.publishing import Outgoing, publish_acknowledged
from delivery.records import OUTCOMES, attempt_record, dead_letter, deferred_job, retry_job
from delivery.request import build_request
from schemas import __version__
from schemas.codec import encode
from schemas.durations import format_duration
from schemas.jobs import DeliveryJob
from schemas.publisher import RecordPublisher
from schemas.settings import Settings
from schemas.topics import TopicNames

log = logging.getLogger(__name__)
USER_AGENT = f"callapi-events/{__version__}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deliverer:
    settings: Settings
    client: HttpClient
    publisher: RecordPublisher
    disabler: RequestDisabler
    metrics: DeliveryMetrics
    circuits: Circuits
    hosts: HostLimiter
    now: Callable[[], datetime] = _utcnow
    monotonic_s: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    topics: TopicNames = field(init=False)

    def __post_init__(self) -> None:
        self.topics = self.settings.topics  # a property that builds the names: once, not per job
        for step_s in self.settings.retry_schedule:  # every series from the start, so increase() sees the first too
            self.metrics.retries.labels(delay=format_duration(step_s))

    async def handle(self, job: DeliveryJob, sending: Callable[[], None] = lambda: None) -> None:
        if job.not_before is not None and (wait_s := (job.not_before - self.now()).total_seconds()) > 0:
            await self._move_on(job, wait_s)
            return
        try:
            key = destination_key(job.url)
        except ValueError as error:  # a malformed URL: no attempt could ever send it
            await self._conclude(job, _unsendable("invalid_url", str(error)), 0.0)
            return
        now_s = self.monotonic_s()
        circuit = self.circuits.get(key, now_s=now_s)
        if not circuit.allow(now_s):
            await self._wait_for_circuit(job, key, circuit)
            return
        probe = circuit.state is State.HALF_OPEN
        try:
            if self.hosts.saturated(key):
                raise HostStalled("the destination's queue is full")
            await self.hosts.acquire(key)
        except HostStalled as stalled:
            circuit.release_probe(self.monotonic_s())
            await self._defer(job, str(stalled))
            return
        except asyncio.CancelledError:  # its partition was revoked: were it the probe, let another job probe
            circuit.release_probe(self.monotonic_s())
            raise
        if circuit.state is not State.CLOSED and not probe:  # it opened while the job queued for the host
            self.hosts.release(key)
            await self._wait_for_circuit(job, key, circuit)
            return
        try:
            sending()
            result, duration_ms = await self._send(job)
        finally:
            self.hosts.release(key)
        self._record_outcome(circuit, key, job, result)
        await self._conclude(job, result, duration_ms)

    def _record_outcome(self, circuit: Circuit, key: str, job: DeliveryJob, result: AttemptResult) -> None:
        """Move the destination's circuit; say so when it opens or closes (the failure that opened it)."""
        state = circuit.state
        if _counts_as_failure(result):
            circuit.record_failure(self.monotonic_s())
        elif result.status_code is not None:
            circuit.record_success()
        else:
            circuit.release_probe(self.monotonic_s())
        if circuit.state is state:
            return
        context = {"host": key, "request_id": job.request_id}
        if circuit.state is State.OPEN and state is State.HALF_OPEN:
            log.warning("circuit for %s reopened: the probe failed (%s); next probe in %g s", key,
                        result.summary, circuit.open_s, extra=context)
        elif circuit.state is State.OPEN:
            log.warning("circuit for %s opened after %d consecutive failures (last: %s); its jobs wait %g s",
                        key, circuit.failures, result.summary, circuit.open_s, extra=context)
        elif circuit.state is State.CLOSED:
            log.warning("circuit for %s closed: a request succeeded (%s)", key, result.summary, extra=context)

    async def _send(self, job: DeliveryJob) -> tuple[AttemptResult, float]:
        try:
            request = build_request(job, now_s=int(self.now().timestamp()), user_agent=USER_AGENT)
        except binascii.Error as error:  # no attempt could ever sign it
            return _unsendable("invalid_secret", f"a signing secret is not whsec_<base64> ({error})"), 0.0
        started_s = time.perf_counter()
        try:
            response = await self.client.send(request)
        except TransportError as error:
            result = AttemptResult(error_class=error.error_class, error_detail=str(error),
                                   retryable_error=error.retryable)
        else:
            result = AttemptResult(status_code=response.status_code, retry_after=response.retry_after)
        duration_s = time.perf_counter() - started_s
        self.metrics.attempt_duration.observe(duration_s)
        return result, duration_s * 1000

    def _decide(self, job: DeliveryJob, result: AttemptResult, now: datetime) -> Decision:
        return decide(result, attempts_made=job.attempt + 1, now=now, schedule=self.settings.retry_schedule,
                      jitter=self.settings.retry_jitter, rand=self.rand())

    async def _conclude(self, job: DeliveryJob, result: AttemptResult, duration_ms: float) -> None:
        now = self.now()
        decision = self._decide(job, result, now)
        if decision.action is Action.DISABLE:
            try:
                await self.disabler.disable(job)
            except DisableFailed as error:
                log.warning("%s; the job goes to the retry path", error)
                failed = AttemptResult(status_code=None, error_class="disable_failed", error_detail=str(error))
                decision = self._decide(job, failed, now)
                result = AttemptResult(status_code=410, error_class="disable_failed")
            except DisableTimedOut as error:  # the job still stops: a retry would only wait on the same lock
                log.warning("%s; the job stops, the request is left as it is", error)
                self.metrics.disables_not_applied.inc()
                result = AttemptResult(status_code=410, error_class="disable_timed_out")
        records: list[tuple[str, BaseModel]] = [
            (self.topics.delivery_attempts,
             attempt_record(job, decision, result, duration_ms=duration_ms, attempted_at=now)),
        ]
        if decision.action is Action.RETRY:
            records.append((self._retry_topic(decision.delay_s or 0.0), retry_job(job, decision)))
        elif decision.action is Action.DEAD_LETTER:
            records.append((self.topics.deliveries_dlq, dead_letter(job, decision)))
        await self._publish(job.extension, records)
        self._count(job, decision, now)

    def _retry_topic(self, delay_s: float) -> str:
        topic_delay_s = retry_topic_delay_s(delay_s, self.settings.retry_schedule)
        self.metrics.retries.labels(delay=format_duration(topic_delay_s)).inc()
        return self.topics.retry(topic_delay_s)

    async def _defer(self, job: DeliveryJob, reason: str) -> None:
        log.debug("job %s deferred: %s", job.job_id, reason)
        delay_s = min(self.settings.retry_schedule)
        deferred = deferred_job(job, now=self.now(), delay_s=delay_s)
        self.metrics.deferred.labels(reason="host_stalled").inc()
        await self._publish(job.extension, [(self.topics.retry(delay_s), deferred)])

    async def _move_on(self, job: DeliveryJob, wait_s: float) -> None:
        """A job not due yet whose delay topic's own delay is over: on to the delay topic that fits the rest of
        its wait, unchanged, so it does not hold up the later records of the topic it was on."""
        topic = self.topics.retry(retry_topic_delay_s(wait_s, self.settings.retry_schedule))
        self.metrics.deferred.labels(reason="not_due").inc()
        await self._publish(job.extension, [(topic, job)])

    async def _wait_for_circuit(self, job: DeliveryJob, key: str, circuit: Circuit) -> None:
        """The circuit refused the job: to the retry path without spending an attempt, or, once it has waited
        longer than the whole schedule since its last attempt, to the dead letters."""
        now, now_s = self.now(), self.monotonic_s()
        settings = self.settings
        decision = defer_for_circuit(
            key=key, attempts_made=job.attempt, last_error=job.last_error,
            waiting_since=job.deferred_since or now, now=now,
            remaining_open_s=circuit.remaining_open_s(now_s), probing=circuit.state is State.HALF_OPEN,
            schedule=settings.retry_schedule, jitter=settings.retry_jitter, open_s=circuit.open_s,
        )
        if decision.action is Action.DEAD_LETTER:
            self.metrics.dead_letters.inc()
            log.info("job %s dead-lettered: %s", job.job_id, decision.reason,
                     extra={"job_id": job.job_id, "request_id": job.request_id})
            await self._publish(job.extension, [(self.topics.deliveries_dlq, dead_letter(job, decision))])
            return
        delay_s = decision.delay_s or min(settings.retry_schedule)
        self.metrics.deferred.labels(reason="circuit_open").inc()
        deferred = deferred_job(job, now=now, delay_s=delay_s)
        await self._publish(job.extension, [(self.topics.retry(delay_s), deferred)])

    def _count(self, job: DeliveryJob, decision: Decision, now: datetime) -> None:
        self.metrics.attempted(OUTCOMES[decision.action])  # labelled as the DeliveryAttempt record's outcome
        if decision.action is Action.DELIVERED and not job.replay:  # an operator's resend would count days
            self.metrics.end_to_end.observe(max(0.0, (now - job.occurred_at).total_seconds()))
        elif decision.action is Action.DEAD_LETTER:
            self.metrics.dead_letters.inc()
            log.info("job %s dead-lettered: %s", job.job_id, decision.reason)

    async def _publish(self, key: str, records: list[tuple[str, BaseModel]]) -> None:
        """Every record acknowledged by Kafka (refused ones sent again), keyed by the job's extension."""
        key_bytes = key.encode()
        await publish_acknowledged(self.publisher, [Outgoing(topic, key_bytes, encode(value))
                                                    for topic, value in records])


def _unsendable(error_class: str, detail: str) -> AttemptResult:
    return AttemptResult(error_class=error_class, error_detail=detail, retryable_error=False)


def _counts_as_failure(result: AttemptResult) -> bool:
    """Failures of the destination's availability: they move its circuit towards open."""
    status = result.status_code
    if status is None:
        return result.retryable_error
    return status >= 500 or status == 429
