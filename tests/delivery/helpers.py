"""Reading what the workers wrote (attempts and dead letters on their topics), and making the broker refuse
records."""

from __future__ import annotations

import asyncio
import time

import psycopg
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


def stored_requests(database_url: str, extensions: list[str], request_id: str, url: str, *,
                    enabled: bool = True) -> None:
    """A dial-in POST request `request_id` to `url` on each extension in PostgreSQL, as the Control API stores it
    (the extension and its organization made when missing; a request already there takes this url and status)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for extension in extensions:
            code = extension.split("*")[0]
            org = conn.execute("SELECT id FROM accounts WHERE kind = 'organization' AND code = %s", (code,)).fetchone()
            if org is None:
                provider = conn.execute("INSERT INTO accounts (kind, name) VALUES ('provider', 'p') RETURNING id")
                org = conn.execute("INSERT INTO accounts (kind, parent_id, code, name) VALUES ('organization', %s, %s,"
                                   " 'o') RETURNING id", (provider.fetchone()[0], code)).fetchone()  # type: ignore[index]
            ext = conn.execute("INSERT INTO extensions (organization_id, number) VALUES (%s, %s) ON CONFLICT (number)"
                               " DO UPDATE SET number = EXCLUDED.number RETURNING id",
                               (org[0], extension)).fetchone()  # type: ignore[index]
            conn.execute("INSERT INTO event_requests (extension_id, id, type, method, url, enabled)"
                         " VALUES (%s, %s, 0, 'POST', %s, %s) ON CONFLICT (extension_id, id)"
                         " DO UPDATE SET url = EXCLUDED.url, enabled = EXCLUDED.enabled",
                         (ext[0], request_id, url, enabled))  # type: ignore[index]
