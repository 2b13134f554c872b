"""What to do after an attempt, and when to try again (pure; the clock and the randomness are arguments).

2xx → delivered. Connection errors, timeouts, 408, 425, 429 and 5xx → retry on the schedule, then dead-letter.
410 → disable the request and stop. Any other status, or a refused destination → dead-letter at once.
A job whose destination's circuit is open is not attempted: it waits on the retry path without spending an
attempt, until the circuit lets requests through again or the job is older than the whole schedule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

RETRYABLE_STATUSES = frozenset({408, 425, 429})
_ASCTIME = re.compile(r"[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d\d:\d\d:\d\d \d{4}", re.ASCII)
"""RFC 9110's obsolete asctime form of an HTTP date (`Sun Nov  6 08:49:37 1994`): in UTC, without saying so."""


class Action(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"
    DISABLE = "disable"


@dataclass(slots=True)  # not frozen: that sets each field through object.__setattr__, per job
class AttemptResult:
    """What came back: a status (with its Retry-After header) or an error class."""

    status_code: int | None = None
    retry_after: str | None = None
    error_class: str | None = None
    error_detail: str = ""
    retryable_error: bool = True

    @property
    def summary(self) -> str:
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return f"{self.error_class}: {self.error_detail}" if self.error_detail else str(self.error_class)


@dataclass(slots=True)  # not frozen: that sets each field through object.__setattr__, per job
class Decision:
    action: Action
    attempts_made: int
    delay_s: float | None = None
    not_before: datetime | None = None
    reason: str = ""


def classify(result: AttemptResult) -> Action:
    """The action ignoring the attempt budget."""
    status = result.status_code
    if status is None:
        return Action.RETRY if result.retryable_error else Action.DEAD_LETTER
    if 200 <= status < 300:
        return Action.DELIVERED
    if status == 410:
        return Action.DISABLE
    if status in RETRYABLE_STATUSES or status >= 500:
        return Action.RETRY
    return Action.DEAD_LETTER


def parse_retry_after_s(value: str | None, *, now: datetime) -> float | None:
    """Seconds from `now` named by a Retry-After header (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # not `²` or other Unicode digits, which float() refuses
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        if not _ASCTIME.fullmatch(text):
            return None
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_delay_s(
    attempts_made: int, schedule: tuple[float, ...], *, jitter: float, rand: float, retry_after_s: float | None = None
) -> float | None:
    """The wait before attempt `attempts_made + 1`, or None when the schedule is used up.

    `rand` in [0, 1) spreads the delay by ±`jitter`; a Retry-After may lengthen the wait up to the
    schedule's longest delay, never shorten it.
    """
    if attempts_made < 1 or attempts_made > len(schedule):
        return None
    delay_s = schedule[attempts_made - 1] * (1 + jitter * (2 * rand - 1))
    if retry_after_s is not None:  # capped alone: a last step's jitter past the longest delay stays
        delay_s = max(delay_s, min(retry_after_s, max(schedule)))
    return delay_s


def retry_topic_delay_s(delay_s: float, schedule: tuple[float, ...]) -> float:
    """The delay topic a wait of `delay_s` travels on: the longest scheduled delay not above it."""
    fitting = [step for step in schedule if step <= delay_s]
    return max(fitting) if fitting else min(schedule)


def decide(
    result: AttemptResult, *, attempts_made: int, now: datetime, schedule: tuple[float, ...], jitter: float,
    rand: float,
) -> Decision:
    """The decision after attempt number `attempts_made` (1 for the first) ended with `result`."""
    action = classify(result)
    if action is not Action.RETRY:
        return Decision(action, attempts_made, reason=result.summary)
    retry_after_s = parse_retry_after_s(result.retry_after, now=now)
    delay_s = retry_delay_s(attempts_made, schedule, jitter=jitter, rand=rand, retry_after_s=retry_after_s)
    if delay_s is None:
        reason = f"{result.summary} (gave up after {attempts_made} attempts)"
        return Decision(Action.DEAD_LETTER, attempts_made, reason=reason)
    return Decision(Action.RETRY, attempts_made, delay_s, now + timedelta(seconds=delay_s), result.summary)


def circuit_wait_limit_s(schedule: tuple[float, ...], *, jitter: float, open_s: float) -> float:
    """How old a job may grow while its destination's circuit stays open before it is given up.

    The schedule's whole span (with its jitter), as if every attempt had been made; and never less than one
    open window plus the longest step, so a job always outlives at least one probe of the destination.
    """
    return max(sum(schedule), open_s + max(schedule)) * (1 + jitter)


def circuit_retry_delay_s(remaining_open_s: float, schedule: tuple[float, ...]) -> float:
    """The delay topic for a job refused by an open circuit: the shortest step covering the circuit's
    remaining open time, or the longest step when none does."""
    return min((step for step in schedule if step >= remaining_open_s), default=max(schedule))


def defer_for_circuit(
    *, key: str, attempts_made: int, last_error: str | None, waiting_since: datetime, now: datetime,
    remaining_open_s: float, probing: bool, schedule: tuple[float, ...], jitter: float, open_s: float,
) -> Decision:
    """A job's destination `key` refused it (circuit open): wait without spending an attempt, or give up.

    `attempts_made` is the job's count so far (unchanged); `waiting_since` is its first deferral since its last
    attempt (a consumer lag before that does not count). While a probe is out (`probing`, half-open) the
    job never gives up: the probe's outcome may close the circuit.
    """
    age_s = (now - waiting_since).total_seconds()
    if not probing and age_s > circuit_wait_limit_s(schedule, jitter=jitter, open_s=open_s):
        plural = "s" if attempts_made > 1 else ""
        tried = f"{attempts_made} attempt{plural}, last: {last_error}" if attempts_made else "never tried"
        reason = f"circuit_open: {key} (the circuit stayed open; gave up after {age_s:.0f} s, {tried})"
        return Decision(Action.DEAD_LETTER, attempts_made, reason=reason)
    delay_s = circuit_retry_delay_s(remaining_open_s, schedule)
    return Decision(Action.RETRY, attempts_made, delay_s, now + timedelta(seconds=delay_s), f"circuit_open: {key}")
