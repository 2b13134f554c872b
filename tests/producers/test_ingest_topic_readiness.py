"""/readyz needs the call-events topic, not only a broker that answers: with the topic deleted (or never
created) every ingest request would fail, so the pod must leave the Service's endpoints until it is back.

The module's own topics on the shared broker, deleted and recreated with a real admin client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from deploy.topics import create_topics, delete_topics
from schemas.settings import Settings
from tests.producers.helpers import IngestTenant, make_tenant
from tests.producers.test_ingest import NINE, bearer, serving
from tests.producers.test_ingest_faults import PROBE_TIMEOUT_S, _counter, _until_status

TOPIC_MISSING_CHECK = 'callapi_ingest_ready_checks_total{result="topic_missing"}'


@pytest.fixture
def own(make_settings: Callable[..., Settings]) -> Settings:
    """Topics of the test's own, and readiness verdicts kept 0.5 s."""
    return make_settings(partitions=2, ingest_ready_cache_s=0.5, ingest_ready_timeout_s=1.0,
                         ingest_send_timeout_s=10.0)


async def test_readyz_is_503_while_call_events_is_deleted_and_200_once_it_is_recreated(own: Settings) -> None:
    tenant: IngestTenant = await asyncio.to_thread(make_tenant, own.database_url)
    params = NINE | {"CalledExtension": f"{tenant.code}210"}
    async with serving(own) as url, httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:

        async def readyz() -> httpx.Response:
            return await client.get(f"{url}/readyz")

        async def send() -> httpx.Response:
            return await client.get(f"{url}/ingest/{tenant.code}/dial-in", params=params,
                                    headers=bearer(tenant.org_token), timeout=60)

        await _until_status(readyz, 200)
        assert (await send()).status_code == 202  # from now on the producer asks for this topic by name
        await delete_topics(own.kafka_bootstrap, [own.topics.call_events])
        assert (await _until_status(readyz, 503)).json() == {"status": "not ready"}
        assert _counter(await client.get(f"{url}/metrics"), TOPIC_MISSING_CHECK) > 0
        await create_topics(own.kafka_bootstrap, own.topic_specs())
        assert (await _until_status(readyz, 200)).json() == {"status": "ready"}
        accepted = await send()
    assert accepted.status_code == 202, accepted.text


async def test_readyz_is_503_while_call_events_was_never_created(own: Settings) -> None:
    await delete_topics(own.kafka_bootstrap, [own.topics.call_events])  # as if `topics create` had not run
    async with serving(own) as url, httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:

        async def readyz() -> httpx.Response:
            return await client.get(f"{url}/readyz")

        async def topic_missing_checks() -> float:
            return _counter(await client.get(f"{url}/metrics"), TOPIC_MISSING_CHECK)

        before = await topic_missing_checks()
        for _ in range(120):  # connected, and Kafka answered without the topic
            assert (await readyz()).status_code == 503
            if await topic_missing_checks() > before:
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError("no readiness check found the topic missing")
        assert (await readyz()).json() == {"status": "not ready"}
        await create_topics(own.kafka_bootstrap, own.topic_specs())
        assert (await _until_status(readyz, 200)).json() == {"status": "ready"}


@pytest.fixture
def short_sends(make_settings: Callable[..., Settings]) -> Settings:
    """As `own`, with a send given up after 2 s."""
    return make_settings(partitions=2, ingest_ready_cache_s=0.5, ingest_ready_timeout_s=1.0, ingest_send_timeout_s=2.0)


async def test_a_request_while_call_events_is_missing_names_the_topic(short_sends: Settings) -> None:
    own = short_sends
    await delete_topics(own.kafka_bootstrap, [own.topics.call_events])  # as with a wrong CALLAPI_TOPIC_PREFIX
    tenant: IngestTenant = await asyncio.to_thread(make_tenant, own.database_url)
    async with serving(own) as url, httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
        for _ in range(120):  # connected, and Kafka answered without the topic
            await client.get(f"{url}/readyz")
            if _counter(await client.get(f"{url}/metrics"), TOPIC_MISSING_CHECK) > 0:
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError("no readiness check found the topic missing")
        refused = await client.get(f"{url}/ingest/{tenant.code}/dial-in", headers=bearer(tenant.org_token),
                                   params=NINE | {"CalledExtension": f"{tenant.code}210"}, timeout=60)
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert error["code"] == "kafka_unavailable"
    assert f"topic {own.topics.call_events} does not exist" in error["message"], error  # what to fix, not a timeout
