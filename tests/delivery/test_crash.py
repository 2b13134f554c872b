"""No loss: SIGKILL of a worker under load or after a commit; PostgreSQL unreachable when a 410 is recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from delivery.policy import circuit_wait_limit_s
from delivery.worker import group_id
from schemas.attempts import Outcome
from schemas.settings import Settings
from tests.delivery.helpers import attempts_of, dead_letters
from tests.delivery.jobs import make_job, produce_jobs
from tests.kafka import uncommitted
from tests.polling import eventually
from tests.processes import Component
from tests.receiver import Receiver

JOBS = 400


@pytest.fixture(scope="module")
def crash_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(scope="module")
def rebalance_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(max_per_host=4)  # slow enough that both workers share the load


@pytest.fixture(scope="module")
def commit_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(commit_interval_s=0.2)


async def unread_jobs(settings: Settings) -> int:
    return await uncommitted(settings, group_id(settings), settings.topics.deliveries)


@pytest.fixture(scope="module")
def no_db_settings(make_settings: Callable[..., Settings]) -> Settings:
    # fresh topics of its own, and a database URL where nothing listens
    return make_settings().model_copy(update={"database_url": "postgresql://callapi:callapi@127.0.0.1:1/nowhere"})


async def test_sigkill_under_load_loses_no_job(crash_settings: Settings, receiver: Receiver) -> None:
    settings = crash_settings
    receiver.script("/slow", delay_s=0.05)
    receiver.script("/dead", then=500)
    jobs = [make_job(receiver.url + ("/dead" if i % 50 == 0 else "/slow"), request_id=f"r{i % 7}",
                     extension=f"0007*{i % 13}", sequence=i) for i in range(JOBS)]
    delivered_ids = {j.job_id for j in jobs if not j.url.endswith("/dead")}
    dead_ids = {j.job_id for j in jobs if j.url.endswith("/dead")}
    await produce_jobs(settings, jobs)

    first = Component(settings, "deliver", "--port", "0", name="delivery-killed").start()
    try:
        receiver.wait_for(JOBS // 3, path="/slow", timeout_s=60)
    finally:
        first.kill()
    with Component(settings, "deliver", "--port", "0", name="delivery-restarted") as second:

        def all_delivered() -> bool:
            return {r.headers["webhook-id"] for r in receiver.received("/slow")} >= delivered_ids

        assert eventually(all_delivered, timeout_s=120)
        # The dead endpoint shares the host of the others, so its circuit opens; a job picked as a probe spends
        # an attempt and starts its circuit wait again: each attempt may take up to one whole wait limit.
        limit_s = circuit_wait_limit_s(settings.retry_schedule, jitter=settings.retry_jitter,
                                       open_s=settings.circuit_open_s)
        attempts = len(settings.retry_schedule) + 1
        letters = await dead_letters(settings, dead_ids, timeout_s=attempts * (limit_s + 5))
    assert set(letters) == dead_ids
    assert "Traceback" not in second.log()


async def test_a_running_worker_commits_so_a_kill_repeats_nothing_already_committed(
    commit_settings: Settings, receiver: Receiver,
) -> None:
    settings = commit_settings
    first_jobs = [make_job(receiver.url + "/ok", request_id="c", extension=f"0010*{i % 11}", sequence=i)
                  for i in range(60)]
    await produce_jobs(settings, first_jobs)
    first = Component(settings, "deliver", "--port", "0", name="delivery-committing").start()
    try:
        receiver.wait_for(len(first_jobs), path="/ok", timeout_s=60)
        deadline = time.monotonic() + 30
        while await unread_jobs(settings) and time.monotonic() < deadline:  # committed while running
            await asyncio.sleep(0.1)
        assert await unread_jobs(settings) == 0
    finally:
        first.kill()  # no shutdown commit
    later_jobs = [make_job(receiver.url + "/ok", request_id="c", extension="0010*1", sequence=100 + i)
                  for i in range(20)]
    await produce_jobs(settings, later_jobs)
    with Component(settings, "deliver", "--port", "0", name="delivery-successor"):
        expected = {job.job_id for job in first_jobs + later_jobs}
        assert eventually(lambda: {r.headers["webhook-id"] for r in receiver.received("/ok")} >= expected,
                          timeout_s=60)
    ids = [r.headers["webhook-id"] for r in receiver.received("/ok")]
    assert len(ids) == len(set(ids))  # the successor started from the committed offsets: nothing sent twice


async def test_postgresql_down_keeps_the_410_job_and_the_data_path(
    no_db_settings: Settings, receiver: Receiver,
) -> None:
    settings = no_db_settings
    receiver.script("/gone", then=410)
    gone = make_job(receiver.url + "/gone", request_id="gone", extension="0008*1")
    others = [make_job(receiver.url + "/ok", request_id="ok", extension="0008*1") for _ in range(5)]
    with Component(settings, "deliver", "--port", "0", name="delivery-nodb"):
        await produce_jobs(settings, [gone, *others])
        assert len(receiver.wait_for(5, path="/ok")) == 5
        letters = await dead_letters(settings, {gone.job_id})
        attempts = await attempts_of(settings, gone.job_id, count=3)
    assert len(receiver.received("/gone")) == 3  # the 410 was asked again on every retry, not dropped
    assert [(a.outcome, a.status_code, a.error) for a in attempts] == [
        (Outcome.RETRY, 410, "disable_failed"), (Outcome.RETRY, 410, "disable_failed"),
        (Outcome.FAILED, 410, "disable_failed")]
    assert "disable_failed" in (letters[gone.job_id].last_error or "")


async def test_workers_joining_and_leaving_under_load_lose_and_repeat_nothing(
    rebalance_settings: Settings, receiver: Receiver,
) -> None:
    settings = rebalance_settings
    receiver.script("/steady", delay_s=0.1)
    jobs = [make_job(receiver.url + "/steady", request_id="steady", extension=f"0009*{i % 17}", sequence=i)
            for i in range(JOBS)]
    await produce_jobs(settings, jobs)
    first = Component(settings, "deliver", "--port", "0", name="delivery-first").start()
    try:
        receiver.wait_for(JOBS // 4, path="/steady", timeout_s=60)
        with Component(settings, "deliver", "--port", "0", name="delivery-second"):
            receiver.wait_for(JOBS // 2, path="/steady", timeout_s=60)
            assert first.stop() == 0  # graceful: finish in-flight, commit, leave the group
            assert eventually(lambda: len(receiver.received("/steady")) >= JOBS, timeout_s=120)
    finally:
        first.stop()
    ids = [r.headers["webhook-id"] for r in receiver.received("/steady")]
    assert set(ids) == {job.job_id for job in jobs}
    assert len(ids) == len(set(ids))  # revocations and the shutdown committed exactly what was finished
