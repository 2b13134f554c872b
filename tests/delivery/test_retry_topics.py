"""A real worker against real Kafka and real receivers: delay topics never hold up the jobs behind a long wait,
and a job that no attempt could ever send goes to the dead letters instead of stopping the worker."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from delivery.worker import delay_topic_s, job_topics
from deploy.topics import create_topics, delete_topics
from schemas.attempts import Outcome
from schemas.codec import encode
from schemas.settings import Settings
from tests.delivery.helpers import attempts_of, dead_letters
from tests.delivery.jobs import make_job, produce_jobs
from tests.kafka import produce
from tests.processes import Component
from tests.receiver import Receiver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


OPS_PORT = _free_port()


EARLIER_STEP_S = 60.0
"""A step of an earlier retry schedule: its delay topic still holds jobs after the schedule changed."""


@pytest.fixture(scope="module")
def settings(make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    settings = make_settings(retry_schedule=(2.0, 8.0), request_timeout_s=3.0, connect_timeout_s=1.0,
                             circuit_failure_threshold=50)
    earlier = settings.model_copy(update={"retry_schedule": (EARLIER_STEP_S,)})
    [spec] = [s for s in earlier.topic_specs() if s.name == earlier.topics.retry(EARLIER_STEP_S)]
    asyncio.run(create_topics(settings.kafka_bootstrap, [spec]))
    yield settings
    asyncio.run(delete_topics(settings.kafka_bootstrap, [spec.name]))


@pytest.fixture(scope="module", autouse=True)
def worker(settings: Settings) -> Iterator[Component]:
    with Component(settings, "deliver", "--port", str(OPS_PORT), name="delivery-retry-topics") as component:
        yield component
    assert "Traceback" not in component.log(), component.log()


async def test_a_long_retry_after_does_not_hold_up_the_retries_behind_it(
    settings: Settings, receiver: Receiver,
) -> None:
    # Retry-After 6 s: the wait is longer than the 2 s delay topic it travels on. A job of the same extension
    # (same partition) that fails just after it, with a 2 s wait, must not wait behind it.
    receiver.script("/long", statuses=[503], then=204, headers={"Retry-After": "6"})
    receiver.script("/short", statuses=[503], then=204, delay_s=0.5)  # its retry is queued after the long one
    long, short = make_job(receiver.url + "/long", request_id="long"), make_job(receiver.url + "/short",
                                                                                 request_id="short")
    await produce_jobs(settings, [long, short])
    receiver.wait_for(2, path="/long")
    receiver.wait_for(2, path="/short")
    retried = [r.path for r in receiver.received() if r.path in ("/long", "/short")][2:]
    assert retried == ["/short", "/long"]
    attempts = await attempts_of(settings, long.job_id, count=2)
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, Outcome.RETRY), (2, Outcome.DELIVERED)]
    assert (attempts[1].attempted_at - attempts[0].attempted_at).total_seconds() >= 6  # Retry-After honoured


@pytest.mark.parametrize(("url_path", "secret", "error"), [
    (":99999/bad-port", "", "invalid_url"),
    ("/bad-secret", "whsec_not*base64", "invalid_secret"),
])
async def test_a_job_no_attempt_could_send_is_dead_lettered_and_the_partition_goes_on(
    settings: Settings, receiver: Receiver, url_path: str, secret: str, error: str,
) -> None:
    base = receiver.url.rsplit(":", 1)[0] if url_path.startswith(":") else receiver.url
    bad = make_job(base + url_path, request_id=f"bad-{error}", secrets_=(secret,) if secret else ())
    good = make_job(receiver.url + f"/after-{error}", request_id=f"after-{error}")
    await produce_jobs(settings, [bad, good])
    letters = await dead_letters(settings, {bad.job_id})
    assert (letters[bad.job_id].last_error or "").startswith(f"{error}: ")
    assert receiver.wait_for(1, path=f"/after-{error}")
    attempts = await attempts_of(settings, bad.job_id, count=1)
    assert [(a.outcome, a.error) for a in attempts] == [(Outcome.FAILED, error)]


async def test_a_job_on_the_delay_topic_of_an_earlier_schedule_is_still_delivered(
    settings: Settings, receiver: Receiver,
) -> None:
    # Written before CALLAPI_RETRY_SCHEDULE lost its 1m step: the topic is no longer in the schedule.
    now = datetime.now(UTC)
    job = make_job(receiver.url + "/earlier", request_id="earlier").model_copy(update={
        "attempt": 1, "not_before": now + timedelta(seconds=1), "last_error": "HTTP 503"})
    await produce(settings, settings.topics.retry(EARLIER_STEP_S), [(job.extension, encode(job))])
    assert receiver.wait_for(1, path="/earlier")
    attempts = await attempts_of(settings, job.job_id, count=1)
    assert [(a.attempt, a.outcome) for a in attempts] == [(2, Outcome.DELIVERED)]


@pytest.mark.parametrize(("topic", "read", "delay_s"), [
    ("p.deliveries", True, None),
    ("p.deliveries.retry.30s", True, 30.0),
    ("p.deliveries.retry.500ms", True, 0.5),
    ("p.deliveries.retry.3h", True, 10800.0),
    ("p.deliveries.dlq", False, None),
    ("p.deliveries.retry.soon", False, None),
    ("pXdeliveries", False, None),
    ("q.p.deliveries", False, None),
])
def test_the_worker_reads_deliveries_and_every_delay_topic(topic: str, read: bool, delay_s: float | None) -> None:
    settings = Settings(topic_prefix="p.")
    assert bool(re.match(job_topics(settings), topic)) is read
    if read:
        assert delay_topic_s(settings, topic) == delay_s
