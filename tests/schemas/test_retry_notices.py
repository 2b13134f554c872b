"""When a retrying service warns: a new failure at once, the same one at most every `every_s`, a recovery once."""

from __future__ import annotations

import psycopg
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from schemas.retry_notices import RetryNotices, failure_reason

KAFKA = "cannot reach Kafka at 127.0.0.1:9"


@pytest.mark.parametrize(("rounds", "warnings"), [
    # (reason, now) of each failed round → what `failed` answers for it
    ([("a", 0.0)], [0]),
    ([("a", 0.0), ("a", 1.0), ("a", 59.0)], [0, None, None]),
    ([("a", 0.0), ("a", 1.0), ("a", 2.0), ("a", 60.0), ("a", 61.0)], [0, None, None, 2, None]),
    ([("a", 0.0), ("a", 1.0), ("b", 2.0), ("b", 3.0), ("a", 4.0)], [0, None, 0, None, 0]),
])
def test_the_same_failure_is_logged_at_most_every_interval(rounds: list[tuple[str, float]],
                                                            warnings: list[int | None]) -> None:
    notices = RetryNotices(every_s=60.0)
    assert [notices.failed(reason, now) for reason, now in rounds] == warnings


def test_a_success_counts_the_failed_rounds_once_and_starts_over() -> None:
    notices = RetryNotices(every_s=60.0)
    assert notices.succeeded() is None
    for now in (0.0, 1.0, 2.0):
        notices.failed("a", now)
    assert notices.succeeded() == 3
    assert notices.succeeded() is None
    assert notices.failed("a", 3.0) == 0  # failing again after a success is news, not a repeat


@pytest.mark.parametrize(("error", "said"), [
    (KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9)]"), f"{KAFKA}: set CALLAPI_KAFKA_BOOTSTRAP"),
    (psycopg.OperationalError("connection failed: refused\n\tIs the server running?"),
     "cannot reach PostgreSQL (connection failed: refused): set CALLAPI_DATABASE_URL, or start"),
    (psycopg.errors.UndefinedTable("relation \"outbox\" does not exist"), "run `callapi-events db migrate`"),
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
     "lost its PostgreSQL connection (terminating connection due to administrator command)"),
    (KafkaTimeoutError("waited"), "KafkaTimeoutError: waited"),
])
def test_failure_reason_says_what_to_check(error: BaseException, said: str) -> None:
    assert said in failure_reason(error, bootstrap="127.0.0.1:9")


def test_a_failure_is_new_until_warned_about_and_again_after_a_success() -> None:
    notices = RetryNotices(every_s=60.0)
    assert notices.is_new("a")
    notices.failed("a", 0.0)
    assert not notices.is_new("a") and notices.is_new("b")
    notices.failed("a", 61.0)  # the repeat note a minute later is still the same failure
    assert not notices.is_new("a")
    notices.succeeded()
    assert notices.is_new("a")
