"""The outcome policy and the backoff schedule, as tables (the clock and the randomness are arguments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delivery.policy import (
    Action,
    AttemptResult,
    circuit_retry_delay_s,
    circuit_wait_limit_s,
    classify,
    decide,
    defer_for_circuit,
    parse_retry_after_s,
    retry_delay_s,
    retry_topic_delay_s,
)
from delivery.records import deferred_job, redriven, retry_job
from schemas.jobs import DeliveryJob
from schemas.requests import EventRequest
from tests.delivery.jobs import make_job

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SCHEDULE = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 10800.0)


@pytest.mark.parametrize(("result", "action"), [
    (AttemptResult(status_code=200), Action.DELIVERED),
    (AttemptResult(status_code=204), Action.DELIVERED),
    (AttemptResult(status_code=299), Action.DELIVERED),
    (AttemptResult(status_code=301), Action.DEAD_LETTER),
    (AttemptResult(status_code=400), Action.DEAD_LETTER),
    (AttemptResult(status_code=404), Action.DEAD_LETTER),
    (AttemptResult(status_code=408), Action.RETRY),
    (AttemptResult(status_code=410), Action.DISABLE),
    (AttemptResult(status_code=425), Action.RETRY),
    (AttemptResult(status_code=429), Action.RETRY),
    (AttemptResult(status_code=500), Action.RETRY),
    (AttemptResult(status_code=503), Action.RETRY),
    (AttemptResult(error_class="timeout"), Action.RETRY),
    (AttemptResult(error_class="connect_error"), Action.RETRY),
    (AttemptResult(error_class="unsafe_url", retryable_error=False), Action.DEAD_LETTER),
])
def test_classify(result: AttemptResult, action: Action) -> None:
    assert classify(result) is action


@pytest.mark.parametrize(("attempts_made", "rand", "retry_after_s", "delay_s"), [
    (1, 0.5, None, 5.0),            # no jitter in the middle of the range
    (1, 0.0, None, 4.0),            # -20 %
    (1, 1.0, None, 6.0),            # +20 % (rand is below 1 in practice)
    (2, 0.5, None, 30.0),
    (7, 0.5, None, 10800.0),        # the last step
    (8, 0.5, None, None),           # used up
    (0, 0.5, None, None),           # no attempt made yet: nothing to retry
    (1, 0.5, 60.0, 60.0),           # Retry-After lengthens the wait
    (1, 0.5, 2.0, 5.0),             # ... but never shortens it
    (1, 0.5, 99999.0, 10800.0),     # ... and stays within the schedule's longest delay
    (7, 1.0, 60.0, 12960.0),        # ... which does not cut the last step's jitter either
])
def test_retry_delay(attempts_made: int, rand: float, retry_after_s: float | None, delay_s: float | None) -> None:
    got = retry_delay_s(attempts_made, SCHEDULE, jitter=0.2, rand=rand, retry_after_s=retry_after_s)
    assert got == (pytest.approx(delay_s) if delay_s is not None else None)


@given(st.integers(1, 7), st.floats(0, 1, exclude_max=True))
def test_jitter_stays_within_bounds(attempts_made: int, rand: float) -> None:
    delay_s = retry_delay_s(attempts_made, SCHEDULE, jitter=0.2, rand=rand)
    base = SCHEDULE[attempts_made - 1]
    assert delay_s is not None and base * 0.8 <= delay_s <= base * 1.2


@pytest.mark.parametrize(("header", "seconds"), [
    (None, None), ("", None), ("120", 120.0), (" 7 ", 7.0), ("soon", None), ("-5", None),
    ("Fri, 27 Nov 2026 10:01:00 GMT", 60.0), ("Fri, 27 Nov 2026 09:00:00 GMT", 0.0),
    ("²", None), ("١٢", None), ("1.5", None), ("1e3", None), ("+5", None),  # Unicode digits and numbers not HTTP's
    ("Fri, 27 Nov 2026 10:01:00", None),  # no zone
    ("Friday, 27-Nov-26 10:01:00 GMT", 60.0), ("Fri Nov 27 10:01:00 2026", 60.0),  # RFC 9110's obsolete forms,
    ("Tue Dec  1 10:00:00 2026", 4 * 86400.0),  # asctime's is in UTC without saying so
])
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after_s(header, now=NOW) == seconds


@pytest.mark.parametrize(("delay_s", "topic_delay_s"), [
    (4.0, 5.0), (5.0, 5.0), (6.0, 5.0), (29.0, 5.0), (36.0, 30.0), (10800.0, 10800.0), (20000.0, 10800.0),
])
def test_retry_topic(delay_s: float, topic_delay_s: float) -> None:
    assert retry_topic_delay_s(delay_s, SCHEDULE) == topic_delay_s


@pytest.mark.parametrize(("result", "attempts_made", "action", "delay_s"), [
    (AttemptResult(status_code=204), 1, Action.DELIVERED, None),
    (AttemptResult(status_code=500), 1, Action.RETRY, 1.0),
    (AttemptResult(status_code=500), 2, Action.RETRY, 2.0),
    (AttemptResult(status_code=500), 3, Action.DEAD_LETTER, None),
    (AttemptResult(status_code=429, retry_after="30"), 1, Action.RETRY, 2.0),
    (AttemptResult(status_code=410), 1, Action.DISABLE, None),
    (AttemptResult(status_code=404), 1, Action.DEAD_LETTER, None),
    (AttemptResult(error_class="timeout"), 2, Action.RETRY, 2.0),
])
def test_decide(result: AttemptResult, attempts_made: int, action: Action, delay_s: float | None) -> None:
    decision = decide(result, attempts_made=attempts_made, now=NOW, schedule=(1.0, 2.0), jitter=0.0, rand=0.3)
    assert decision.action is action
    assert decision.delay_s == delay_s
    assert decision.not_before == (NOW + timedelta(seconds=delay_s) if delay_s is not None else None)
    assert decision.reason


def test_dead_letter_reason_names_the_last_error() -> None:
    decision = decide(AttemptResult(error_class="timeout", error_detail="10 s"), attempts_made=3, now=NOW,
                      schedule=(1.0, 2.0), jitter=0.2, rand=0.5)
    assert decision.reason == "timeout: 10 s (gave up after 3 attempts)"


# Circuit-open deferral: schedule (1 s, 2 s), jitter 20 %, open window 5 s → wait limit max(3, 5 + 2) * 1.2 = 8.4 s
@pytest.mark.parametrize(("remaining_open_s", "topic_delay_s"), [
    (0.0, 1.0), (0.5, 1.0), (1.0, 1.0), (1.5, 2.0), (2.0, 2.0), (4.9, 2.0), (30.0, 2.0),
])
def test_circuit_retry_delay_covers_the_remaining_open_time(remaining_open_s: float, topic_delay_s: float) -> None:
    assert circuit_retry_delay_s(remaining_open_s, (1.0, 2.0)) == topic_delay_s


@pytest.mark.parametrize(("schedule", "jitter", "open_s", "limit_s"), [
    ((1.0, 2.0), 0.2, 5.0, 8.4),                     # the open window is longer than the schedule
    ((1.0, 2.0), 0.0, 30.0, 32.0),
    ((1.0, 2.0), 0.2, 0.5, 3.6),                     # the schedule's span with its jitter
    (SCHEDULE, 0.2, 30.0, sum(SCHEDULE) * 1.2),
])
def test_circuit_wait_limit(schedule: tuple[float, ...], jitter: float, open_s: float, limit_s: float) -> None:
    assert circuit_wait_limit_s(schedule, jitter=jitter, open_s=open_s) == pytest.approx(limit_s)


@pytest.mark.parametrize(("age_s", "remaining_open_s", "probing", "attempts_made", "action", "delay_s"), [
    (0.0, 5.0, False, 0, Action.RETRY, 2.0),         # fresh job, circuit just opened: the longest step
    (3.0, 0.7, False, 0, Action.RETRY, 1.0),         # the shortest step that covers the rest of the window
    (8.0, 1.5, False, 2, Action.RETRY, 2.0),         # within the limit; attempts are not spent
    (8.5, 3.0, False, 0, Action.DEAD_LETTER, None),  # older than the limit and still open: given up
    (8.5, 0.0, True, 1, Action.RETRY, 1.0),          # a probe is out: never give up before its outcome
    (500.0, 0.0, True, 0, Action.RETRY, 1.0),
    (500.0, 4.0, False, 2, Action.DEAD_LETTER, None),
])
def test_defer_for_circuit(age_s: float, remaining_open_s: float, probing: bool, attempts_made: int,
                           action: Action, delay_s: float | None) -> None:
    decision = defer_for_circuit(
        key="http://h:80", attempts_made=attempts_made, last_error="HTTP 503" if attempts_made else None,
        waiting_since=NOW - timedelta(seconds=age_s), now=NOW, remaining_open_s=remaining_open_s, probing=probing,
        schedule=(1.0, 2.0), jitter=0.2, open_s=5.0,
    )
    assert (decision.action, decision.attempts_made, decision.delay_s) == (action, attempts_made, delay_s)
    assert decision.not_before == (NOW + timedelta(seconds=delay_s) if delay_s is not None else None)
    assert decision.reason.startswith("circuit_open: http://h:80")


@pytest.mark.parametrize(("attempts_made", "last_error", "reason"), [
    (0, None, "circuit_open: http://h:80 (the circuit stayed open; gave up after 9 s, never tried)"),
    (1, "HTTP 503", "circuit_open: http://h:80 (the circuit stayed open; gave up after 9 s, 1 attempt, last: "
                    "HTTP 503)"),
    (2, "timeout", "circuit_open: http://h:80 (the circuit stayed open; gave up after 9 s, 2 attempts, last: "
                   "timeout)"),
])
def test_circuit_dead_letter_reason(attempts_made: int, last_error: str | None, reason: str) -> None:
    decision = defer_for_circuit(
        key="http://h:80", attempts_made=attempts_made, last_error=last_error, waiting_since=NOW - timedelta(seconds=9),
        now=NOW, remaining_open_s=3.0, probing=False, schedule=(1.0, 2.0), jitter=0.2, open_s=5.0,
    )
    assert decision.reason == reason


def test_the_circuit_wait_counts_from_the_first_deferral_since_the_last_attempt() -> None:
    """A job that lagged in the consumer is not given up untried: its wait starts when it is first deferred."""
    job = make_job("http://h/x").model_copy(update={"processed_at": NOW - timedelta(hours=5)})
    first = deferred_job(job, now=NOW, delay_s=5.0)
    again = deferred_job(first, now=NOW + timedelta(seconds=30), delay_s=5.0)
    assert (first.deferred_since, again.deferred_since) == (NOW, NOW)
    retried = retry_job(again, decide(AttemptResult(status_code=503), attempts_made=1, now=NOW, schedule=SCHEDULE,
                                      jitter=0.0, rand=0.5))
    assert retried.deferred_since is None and retried.attempt == 1
    assert redriven(again, _request_of(again), now=NOW).deferred_since is None


def test_a_redriven_job_is_marked_as_sent_again_with_its_own_job_id() -> None:
    job = make_job("http://h/x").model_copy(update={"attempt": 7, "last_error": "http_503"})
    again = redriven(job, _request_of(job), now=NOW)
    assert (again.job_id, again.attempt, again.processed_at, again.replay) == (job.job_id, 0, NOW, True)


def _request_of(job: DeliveryJob) -> EventRequest:
    """The job's request as it is stored, unchanged since the job was made."""
    return EventRequest(id=job.request_id, extension=job.extension, type=job.event_type, method=job.method,
                        url=job.url, signing_secrets=job.signing_secrets, modified=NOW)
