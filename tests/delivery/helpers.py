"""Reading what the workers wrote (attempts and dead letters on their topics), and making the broker refuse
records."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.attempts import DeliveryAttempt
from schemas.codec import decode
from schemas.jobs import DeliveryJob
from schemas.settings import Settings
from tests.kafka import read_topic


async def attempts_of(settings: Settings, job_id: str, *, count: int, timeout_s: float = 30.0) -> list[DeliveryAttempt]:
    """The DeliveryAttempts of one job, waiting until `count` of them are on the topic."""
    deadline = time.monotonic() + timeout_s
    found: list[DeliveryAttempt] = []
    while time.monotonic() < deadline:
        records = await read_topic(settings, settings.topics.delivery_attempts, idle_s=0.5, timeout_s=10)
        found = [a for r in records if (a := decode(DeliveryAttempt, r.value or b"")).job_id == job_id]
        if len(found) >= count:
            break
        await asyncio.sleep(0.5)
    return sorted(found, key=lambda a: a.attempted_at)


async def dead_letters(settings: Settings, job_ids: set[str], *, timeout_s: float = 30.0) -> dict[str, DeliveryJob]:
    """Dead letters of the given jobs, waiting until each one is there (or the timeout passes)."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, DeliveryJob] = {}
    while time.monotonic() < deadline:
        records = await read_topic(settings, settings.topics.deliveries_dlq, idle_s=0.5, timeout_s=10)
        jobs = [decode(DeliveryJob, r.value or b"") for r in records]
        found = {j.job_id: j for j in jobs if j.job_id in job_ids}
        if len(found) == len(job_ids):
            break
        await asyncio.sleep(0.5)
    return found


async def topic_takes(settings: Settings, topic: str, *, max_record_bytes: int | None) -> None:
    """Make the broker refuse the records of `topic` (too large for it), or accept them again (None)."""
    [spec] = [s for s in settings.topic_specs() if s.name == topic]
    config = {**spec.config, **({"max.message.bytes": str(max_record_bytes)} if max_record_bytes else {})}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=config)])
    finally:
        await admin.close()
