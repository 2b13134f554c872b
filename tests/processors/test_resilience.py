"""Crashes, graceful stops, replicas and a refused start: the processor as real subprocesses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from processors.topology import app_id
from schemas.events import CallEvent, EventType
from schemas.jobs import job_id_for
from schemas.settings import Settings
from tests.kafka import uncommitted
from tests.processes import Component
from tests.processors.support import call_event, produce_config, produce_events, read_jobs, request
from tests.services import Service, wait_until

CONFIG_SET = 'callapi_processor_config_records_total{result="set"}'
JOINED = 'callapi_processor_events_total{result="joined"}'


def _extensions(count: int) -> list[str]:
    return [f"0202*{100 + i}" for i in range(count)]


def _configure(settings: Settings, extensions: list[str]) -> None:
    produce_config(settings, {ext: [request(ext, "one"), request(ext, "two", EventType.DIAL_IN)] for ext in extensions})


def _events(extensions: list[str], per_extension: int) -> list[CallEvent]:
    return [call_event(ext) for _ in range(per_extension) for ext in extensions]


def _expected_job_ids(events: list[CallEvent]) -> set[str]:
    return {job_id_for(e.event_id, rid) for e in events for rid in ("one", "two")}


def test_every_event_yields_its_jobs_across_a_sigkill_and_a_sigterm(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    extensions = _extensions(16)
    _configure(settings, extensions)
    first, second = _events(extensions, 60), _events(extensions, 30)
    produce_events(settings, first)

    crashed = Service(settings, "processor", name="processor-crash").start().wait_ready()
    read_jobs(settings, lambda jobs: len(jobs) >= 100)
    crashed.kill()  # mid-stream: no commit, no clean-up

    produce_events(settings, second)
    stopped = Service(settings, "processor", name="processor-term").start().wait_ready()
    read_jobs(settings, lambda jobs: len(jobs) >= 2 * len(first) + 100)
    assert stopped.stop() == 0  # SIGTERM: finishes in-flight, commits, leaves the group

    with Service(settings, "processor", name="processor-final"):
        expected = _expected_job_ids(first + second)
        jobs = read_jobs(settings, lambda js: expected <= {j.job_id for j in js}, timeout_s=120)
    assert {j.job_id for j in jobs} == expected  # duplicates allowed, nothing missing, nothing foreign


def test_a_running_processor_commits_what_it_processed(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(commit_interval_s=0.2)
    extensions = _extensions(4)
    _configure(settings, extensions)
    events = _events(extensions, 10)
    produce_events(settings, events)
    with Service(settings, "processor", name="processor-commits"):
        expected = _expected_job_ids(events)
        read_jobs(settings, lambda js: expected <= {j.job_id for j in js})
        # committed while running, not only on the way out: a crash now would repeat nothing
        wait_until(lambda: asyncio.run(uncommitted(settings, app_id(settings), settings.topics.call_events)) == 0,
                   timeout_s=30, what="every processed event committed", every_s=0.3)


def test_two_replicas_share_the_partitions_and_together_produce_every_job(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    extensions = _extensions(40)
    _configure(settings, extensions)
    with (Service(settings, "processor", name="processor-r1") as one,
          Service(settings, "processor", name="processor-r2") as two):
        # Both are ready, so the group settled with both members; the config reached the tables.
        wait_until(lambda: one.metric(CONFIG_SET) + two.metric(CONFIG_SET) >= len(extensions), timeout_s=60,
                   what="configured")
        events = _events(extensions, 5)
        produce_events(settings, events)
        expected = _expected_job_ids(events)
        jobs = read_jobs(settings, lambda js: expected <= {j.job_id for j in js})
        assert {j.job_id for j in jobs} == expected
        assert one.metric(JOINED) > 0 and two.metric(JOINED) > 0
        assert one.metric(JOINED) + two.metric(JOINED) >= len(events)


def test_a_partition_count_mismatch_refuses_to_start_with_a_clear_error(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(partitions=4)
    asyncio.run(_recreate(settings, settings.topics.event_requests, partitions=2))

    component = Component(settings, "processor", "--port", "0", name="processor-mismatch").start()
    assert component.process is not None
    assert component.process.wait(60) == 1  # the environment is wrong, not the command line
    log = component.log()
    assert "co-partitioned" in log and "has 4 partitions" in log and "has 2" in log


async def _recreate(settings: Settings, topic: str, *, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
        for _ in range(50):  # deletion completes asynchronously on the broker
            if topic not in await admin.list_topics():
                break
            await asyncio.sleep(0.2)
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
