"""The ingest endpoint while its broker stops and comes back (its own broker: the shared one stays up)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from deploy.local.kafka import Kafka
from deploy.topics import create_topics
from schemas.ops import free_port
from schemas.settings import Settings
from tests.kafka import read_topic
from tests.producers.helpers import IngestTenant, make_tenant
from tests.producers.test_ingest import NINE, bearer, serving

pytestmark = pytest.mark.faults


@pytest.fixture
def own_kafka(settings: Settings, tmp_path: Path) -> Iterator[Kafka]:
    kafka = Kafka(stack_dir=tmp_path, cache_dir=settings.cache_dir / "maven", port=free_port(),
                  controller_port=free_port())
    kafka.up()
    try:
        yield kafka
    finally:
        crash(kafka)


def crash(kafka: Kafka) -> None:
    """SIGKILL the broker and reap it (Service.stop would wait out its timeout on the un-reaped child)."""
    pid = kafka.service.pid()
    if pid is not None:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    kafka.service.stop(timeout_s=1)


async def test_503_while_the_broker_is_down_then_recovery_and_nothing_acknowledged_is_lost(
    settings: Settings, own_kafka: Kafka,
) -> None:
    own = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{own_kafka.port}", "partitions": 2,
                                      "ingest_send_timeout_s": 3.0, "producer_request_timeout_ms": 2000})
    await create_topics(own.kafka_bootstrap, own.topic_specs())
    tenant: IngestTenant = await asyncio.to_thread(make_tenant, own.database_url)
    params = NINE | {"CalledExtension": f"{tenant.code}210"}
    acknowledged: list[str] = []
    async with serving(own) as url, httpx.AsyncClient(timeout=60) as client:

        async def send() -> httpx.Response:
            response = await client.get(f"{url}/ingest/{tenant.code}/dial-in", params=params,
                                        headers=bearer(tenant.org_token))
            if response.status_code == 202:
                acknowledged.extend(response.json()["event_ids"])
            return response

        assert (await _until_accepted(send)).status_code == 202
        await asyncio.to_thread(crash, own_kafka)
        down = await send()
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "kafka_unavailable" and down.headers["Retry-After"] == "5"
        await asyncio.to_thread(own_kafka.up)
        assert (await _until_accepted(send)).status_code == 202
    on_topic = {json.loads(r.value or b"")["event_id"] for r in
                await read_topic(own, own.topics.call_events, idle_s=2.0)}
    assert set(acknowledged) <= on_topic


async def _until_accepted(send: Callable[[], Awaitable[httpx.Response]], attempts: int = 60) -> httpx.Response:
    """The producer (re)connects in the background: a client retries after 503, as Retry-After says."""
    for _ in range(attempts):
        response = await send()
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.5)
    return response
