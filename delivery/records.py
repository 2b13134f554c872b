"""The records a finished attempt writes: its DeliveryAttempt, the retry job, the dead letter (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from delivery.policy import Action, AttemptResult, Decision
from schemas.attempts import DeliveryAttempt, Outcome
from schemas.jobs import DeliveryJob
from schemas.requests import EventRequest

OUTCOMES = {
    Action.DELIVERED: Outcome.DELIVERED,
    Action.RETRY: Outcome.RETRY,
    Action.DEAD_LETTER: Outcome.FAILED,
    Action.DISABLE: Outcome.DISABLED,
}


def attempt_record(
    job: DeliveryJob, decision: Decision, result: AttemptResult, *, duration_ms: float, attempted_at: datetime,
) -> DeliveryAttempt:
    return DeliveryAttempt(
        job_id=job.job_id, event_id=job.event_id, event_type=job.event_type, tenant=job.tenant,
        extension=job.extension, request_id=job.request_id, attempt=decision.attempts_made,
        outcome=OUTCOMES[decision.action], status_code=result.status_code, error=result.error_class,
        duration_ms=max(0.0, duration_ms), attempted_at=attempted_at,
    )


def retry_job(job: DeliveryJob, decision: Decision) -> DeliveryJob:
    return job.model_copy(update={
        "attempt": decision.attempts_made, "not_before": decision.not_before, "last_error": decision.reason,
        "deferred_since": None,
    })


def deferred_job(job: DeliveryJob, *, now: datetime, delay_s: float) -> DeliveryJob:
    """The same attempt again later, without spending one (its host was saturated or its circuit open); the
    wait is counted from the first deferral since the last attempt."""
    return job.model_copy(update={"not_before": now + timedelta(seconds=delay_s),
                                  "deferred_since": job.deferred_since or now})


def dead_letter(job: DeliveryJob, decision: Decision) -> DeliveryJob:
    return job.model_copy(update={"attempt": decision.attempts_made, "not_before": None,
                                  "last_error": decision.reason})


def redriven(job: DeliveryJob, request: EventRequest, *, now: datetime) -> DeliveryJob:
    """A dead letter put back on `deliveries`: to its request's current URL, method and secrets (an operator who
    fixed them redrives to the fix), with a fresh attempt budget and wait, the same job id (webhook-id), marked as
    sent again so its delivery does not count in the end-to-end latency."""
    return job.model_copy(update={"url": request.url, "method": request.method,
                                  "signing_secrets": request.signing_secrets, "attempt": 0, "not_before": None,
                                  "processed_at": now, "deferred_since": None, "replay": True})
