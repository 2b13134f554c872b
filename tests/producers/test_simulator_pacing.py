"""The simulator sends each planned event at its planned time (`start` + its offset), on a real broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from producers.sdk import CallEventProducer
from producers.simulator.generator import Plan
from producers.simulator.runner import planned_events, run
from schemas.settings import Settings
from tests.kafka import read_topic

PLAN = Plan(seed=11, organizations=2, extensions=4, rate_eps=20.0)
WAIT_GRAIN_MS = 3  # the runner does not sleep for less than 2 ms; record timestamps are whole ms


async def test_events_already_due_when_the_run_begins_go_at_once_not_shifted_later(settings: Settings) -> None:
    start = datetime.now(UTC) - timedelta(seconds=120)  # every event of the first minute is 1-2 min overdue
    async with CallEventProducer(settings=settings) as producer:
        stats = await asyncio.wait_for(run(PLAN, producer=producer, start=start, duration_s=60), timeout=45)
    assert stats.total_acked == len(list(planned_events(PLAN, start=start, duration_s=60))) > 0


@pytest.fixture
def own_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Topics of its own: every record read is of the test's run."""
    return make_settings()


async def test_no_event_is_sent_before_its_planned_time(own_settings: Settings) -> None:
    settings = own_settings
    start = datetime.now(UTC) + timedelta(seconds=1)
    async with CallEventProducer(settings=settings) as producer:
        stats = await run(PLAN, producer=producer, start=start, duration_s=2)
    records = await read_topic(settings, settings.topics.call_events, count=stats.total_acked)
    assert records
    for record in records:
        planned = datetime.fromisoformat(json.loads(record.value)["occurred_at"])
        assert record.timestamp >= planned.timestamp() * 1000 - WAIT_GRAIN_MS
