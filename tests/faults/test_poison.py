"""Poison records in `call-events` (not JSON, schema-invalid, oversize) mixed into the load: each one lands on
`call-events.dlq` with its reason, and every good event's notifications are still delivered."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import pytest

from producers.simulator.generator import Plan
from schemas.settings import Settings
from tests.faults.harness import free_tenant_base, receiver_url_for, running, settle, simulator, where_lost
from tests.faults.report import record
from tests.kafka import produce, read_topic
from tests.receiver import Receiver

pytestmark = pytest.mark.faults

RATE_EPS, COUNT, PER_KIND = 40.0, 800, 10


def poison(extension: str, index: int, max_bytes: int) -> dict[str, bytes]:
    """One record of each kind, told apart by `index` so each can be found again on the DLQ."""
    good_shape = {"schema_version": 1, "event_id": f"poison-{index}", "type": "dial-in",
                  "occurred_at": "2026-11-27T10:00:00Z", "tenant": extension.split("*")[0], "extension": extension}
    return {
        "invalid_json": f'{{"event_id": "poison-{index}", '.encode(),
        "schema_invalid": json.dumps({**good_shape, "type": "teleport"}).encode(),
        "too_large": json.dumps({**good_shape, "padding": "x" * max_bytes}).encode(),
    }


def inject(settings: Settings, extensions: list[str]) -> dict[bytes, str]:
    """PER_KIND records of each kind, spread over the load's duration; returns value → expected reason."""
    sent: dict[bytes, str] = {}
    for index in range(PER_KIND):
        extension = extensions[index % len(extensions)]
        records = poison(extension, index, settings.max_event_bytes)
        asyncio.run(produce(settings, settings.topics.call_events, [(extension, v) for v in records.values()]))
        sent.update({value: reason for reason, value in records.items()})
        time.sleep(COUNT / RATE_EPS / PER_KIND)  # spread over the load
    return sent


def test_poison_records_go_to_the_dlq_with_their_reason_and_the_rest_is_delivered(
    make_settings: Callable[..., Settings], receiver: Receiver,
) -> None:
    settings = make_settings()
    plan = Plan(seed=85, organizations=2, extensions=5, rate_eps=RATE_EPS,
                tenant_base=free_tenant_base(settings.database_url, 2))
    with running(settings, plan, receiver_url_for(receiver.url), name="faults-poison") as pipeline:
        load = simulator(settings, plan, count=COUNT, rate_eps=RATE_EPS).start()
        poisoned = inject(settings, pipeline.world.extensions)
        assert load.process is not None and load.process.wait(180) == 0, load.log()[-2000:]
        outcome = settle(settings, pipeline.world, lambda: [r.headers["webhook-id"] for r in receiver.received()])
        diagnosis = where_lost(settings, pipeline.world, outcome.report.lost)
        letters = asyncio.run(read_topic(settings, settings.topics.call_events_dlq, count=len(poisoned), timeout_s=60))
    reasons = {r.value: dict(r.headers).get("error", b"").decode() for r in letters}
    wrong = {poisoned[v]: reasons.get(v) for v in poisoned if reasons.get(v) != poisoned[v]}
    record("poison records", outcome.report, events=outcome.events,
           notes=f"{len(poisoned)} poison records, {len(poisoned) - len(wrong)} on call-events.dlq with their reason")
    assert not wrong, f"poison records missing from the DLQ or with another reason: {wrong}"
    assert len(letters) == len(poisoned)  # nothing else was dead-lettered
    assert outcome.report.ok, outcome.report.summary() + "; " + diagnosis
