"""The broker refuses some of the records a worker owes (real Kafka: a topic's record size limit lowered for the
moment): the job stays unfinished and uncommitted, what was acknowledged is not sent again, and a producer that
can no longer write stops its worker so that a fresh one does the job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from delivery.worker import group_id
from schemas.attempts import Outcome
from schemas.settings import Settings
from tests.delivery.helpers import attempts_of, topic_takes
from tests.delivery.jobs import make_job, produce_jobs
from tests.kafka import uncommitted
from tests.polling import eventually
from tests.processes import Component
from tests.receiver import Receiver

EXTENSION = "0003*299"


@pytest.fixture
def fresh(make_settings: Callable[..., Settings]) -> Settings:
    """Topics of this test alone: the worker's producer has written to none of their partitions yet."""
    return make_settings(retry_schedule=(2.0, 8.0), request_timeout_s=3.0, connect_timeout_s=1.0)


def worker(settings: Settings) -> Component:
    return Component(settings, "deliver", "--port", "0", name="delivery-producer-faults")


async def _refused_while(settings: Settings, topic: str, worker: Component, *jobs_: object) -> None:
    """Produce the jobs while the broker refuses `topic`; return once the worker has been refused twice."""
    await topic_takes(settings, topic, max_record_bytes=200)
    try:
        said = worker.log().count("trying again")
        await produce_jobs(settings, list(jobs_))  # type: ignore[arg-type]
        assert eventually(lambda: worker.log().count("trying again") >= said + 2)  # refused, sent again, refused
        assert await uncommitted(settings, group_id(settings), settings.topics.deliveries) >= 1
    finally:
        await topic_takes(settings, topic, max_record_bytes=None)


async def _all_committed(settings: Settings) -> bool:
    """Every job on `deliveries` and the delay topics finished (the worker commits every 0.25 s)."""
    for _ in range(200):
        behind = [await uncommitted(settings, group_id(settings), topic)
                  for topic in (settings.topics.deliveries, *settings.topics.retries)]
        if not any(behind):
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.parametrize("refused", ["retry", "attempts"])
async def test_a_refused_record_keeps_the_job_uncommitted_and_the_acknowledged_one_is_not_repeated(
    fresh: Settings, receiver: Receiver, refused: str,
) -> None:
    # An attempt owes two records, the attempt and the retry; the broker refuses one and takes the other.
    retry_topic = fresh.topics.retry(2.0)
    topic = retry_topic if refused == "retry" else fresh.topics.delivery_attempts
    receiver.script("/refused", statuses=[500], then=204)
    job = make_job(receiver.url + "/refused", request_id="refused", extension=EXTENSION)
    with worker(fresh) as running:
        await _refused_while(fresh, topic, running, job)
        receiver.wait_for(2, path="/refused")
        assert await _all_committed(fresh), running.log()[-3000:]
    assert len(receiver.received("/refused")) == 2  # one retry, not one more per round of refusals
    attempts = await attempts_of(fresh, job.job_id, count=2)
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, Outcome.RETRY), (2, Outcome.DELIVERED)]


async def test_a_producer_that_lost_its_sequence_stops_the_worker_and_the_next_one_does_the_job(
    fresh: Settings, receiver: Receiver,
) -> None:
    # After the broker refused a batch on a partition the producer had written before, aiokafka's idempotent
    # producer is refused on that partition for good (OutOfOrderSequenceNumber; aio-libs/aiokafka#1017).
    before = make_job(receiver.url + "/before", request_id="before", extension=EXTENSION)
    job = make_job(receiver.url + "/wedged", request_id="wedged", extension=EXTENSION)
    with worker(fresh) as first:
        await produce_jobs(fresh, [before])
        await attempts_of(fresh, before.job_id, count=1)
        await _refused_while(fresh, fresh.topics.delivery_attempts, first, job)
        assert eventually(lambda: first.process is not None and first.process.poll() is not None, timeout_s=60)
        assert first.process is not None and first.process.returncode == 1
        assert "restart the worker" in first.log()
    with worker(fresh) as second:
        attempts = await attempts_of(fresh, job.job_id, count=1)
        assert attempts and attempts[-1].outcome is Outcome.DELIVERED
        assert await _all_committed(fresh), second.log()[-3000:]
    assert "Traceback" not in second.log()
