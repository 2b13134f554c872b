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
from schemas.settings import Settings
from tests.kafka import broker_of_its_own, crash, read_topic
from tests.producers.helpers import IngestTenant, make_tenant
from tests.producers.ingest_server import NINE, bearer, serving

pytestmark = pytest.mark.faults
PROBE_TIMEOUT_S = 5.0
READY_CHECK = 'callapi_ingest_ready_checks_total{result="reachable"}'


@pytest.fixture
def own_kafka(settings: Settings, tmp_path: Path) -> Iterator[Kafka]:
    with broker_of_its_own(settings, tmp_path) as kafka:
        yield kafka


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


async def test_readyz_is_503_while_the_broker_is_frozen_or_down_and_200_once_it_is_back(
    settings: Settings, own_kafka: Kafka,
) -> None:
    own = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{own_kafka.port}", "partitions": 2,
                                      "ingest_ready_cache_s": 0.5, "ingest_ready_timeout_s": 1.0,
                                      "ingest_send_timeout_s": 10.0})
    await create_topics(own.kafka_bootstrap, own.topic_specs())
    tenant: IngestTenant = await asyncio.to_thread(make_tenant, own.database_url)
    # A probe that does not answer within the kubelet's timeout counts as failed: the client enforces it.
    async with serving(own) as url, httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:

        async def readyz() -> httpx.Response:
            return await client.get(f"{url}/readyz")

        assert (await _until_status(readyz, 200)).json() == {"status": "ready"}
        await _until_idle_check_passed(client, url)  # idle: expired verdicts are renewed by a real check
        os.killpg(_pid(own_kafka), signal.SIGSTOP)  # a broker that accepts connections and never answers
        try:
            assert (await _until_status(readyz, 503)).json() == {"status": "not ready"}
        finally:
            os.killpg(_pid(own_kafka), signal.SIGCONT)
        await _until_status(readyz, 200)
        await asyncio.to_thread(crash, own_kafka)
        assert (await _until_status(readyz, 503)).json() == {"status": "not ready"}
        await asyncio.to_thread(own_kafka.up)
        assert (await _until_status(readyz, 200)).json() == {"status": "ready"}
        params = NINE | {"CalledExtension": f"{tenant.code}210"}
        async with httpx.AsyncClient(timeout=60) as sender:
            accepted = await sender.get(f"{url}/ingest/{tenant.code}/dial-in", params=params,
                                        headers=bearer(tenant.org_token))
    assert accepted.status_code == 202, accepted.text
    on_topic = {json.loads(r.value or b"")["event_id"] for r in
                await read_topic(own, own.topics.call_events, idle_s=2.0)}
    assert set(accepted.json()["event_ids"]) <= on_topic


def _pid(kafka: Kafka) -> int:
    pid = kafka.service.pid()
    assert pid is not None, "the test broker is not running"
    return pid


async def _until_status(
    probe: Callable[[], Awaitable[httpx.Response]], status: int, attempts: int = 120,
) -> httpx.Response:
    """Probe every 0.25 s (a bounded number of times) until the answer has `status`."""
    for _ in range(attempts):
        response = await probe()
        if response.status_code == status:
            return response
        await asyncio.sleep(0.25)
    raise AssertionError(f"/readyz never answered {status}; last {response.status_code} {response.text}")


async def _until_idle_check_passed(client: httpx.AsyncClient, url: str, attempts: int = 40) -> None:
    """With no traffic, probes stay 200 until a metadata check has found Kafka reachable."""
    before = _counter(await client.get(f"{url}/metrics"), READY_CHECK)
    for _ in range(attempts):
        assert (await client.get(f"{url}/readyz")).status_code == 200
        if _counter(await client.get(f"{url}/metrics"), READY_CHECK) > before:
            return
        await asyncio.sleep(0.25)
    raise AssertionError("no metadata check renewed the idle pod's readiness")


def _counter(metrics: httpx.Response, sample: str) -> float:
    for line in metrics.text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0
