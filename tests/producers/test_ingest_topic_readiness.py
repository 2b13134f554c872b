"""/readyz needs the call-events topic, not only a broker that answers: with the topic deleted (or never
created) every ingest request would fail, so the pod must leave the Service's endpoints until it is back.
Meanwhile requests are refused at once, naming the topic, and served again once it is created.

The module's own topics on the shared broker, deleted and recreated with a real admin client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from deploy.topics import create_topics, delete_topics
from schemas.settings import Settings
from tests.kafka import read_topic
from tests.producers.helpers import IngestTenant, make_tenant
from tests.producers.ingest_server import NINE, bearer, serving
from tests.producers.test_ingest_faults import PROBE_TIMEOUT_S, _counter, _until_status

TOPIC_MISSING_CHECK = 'callapi_ingest_ready_checks_total{result="topic_missing"}'
REQUEST_TIMEOUT_S = 60.0
"""Far below the hour a send may wait (`patient_sends`): a request that waits for the topic gets no answer."""


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


async def _deleted(settings: Settings, topic: str) -> None:
    """Delete `topic`, created by the fixture an instant ago, once the broker's metadata lists it (else there is
    nothing to delete yet, and it appears later), and wait until the metadata no longer does (else an endpoint
    started meanwhile finds it there)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        for listed in (True, False):
            for _ in range(120):
                if (topic in await admin.list_topics()) is listed:
                    break
                await asyncio.sleep(0.25)
            else:
                raise AssertionError(f"{topic} {'never came into' if listed else 'stayed in'} Kafka's metadata")
            if listed:
                await admin.delete_topics([topic])
    finally:
        await admin.close()


async def test_readyz_is_503_while_call_events_was_never_created(own: Settings) -> None:
    await _deleted(own, own.topics.call_events)  # as if `topics create` had not run
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
def patient_sends(make_settings: Callable[..., Settings]) -> Settings:
    """As `own`, with sends (and the Kafka client's own requests) given an hour: a request answered while the topic
    is missing was answered without waiting for Kafka."""
    return make_settings(partitions=2, ingest_ready_cache_s=0.5, ingest_ready_timeout_s=1.0,
                         ingest_send_timeout_s=3600.0, producer_request_timeout_ms=3_600_000)


async def test_while_call_events_was_never_created_requests_are_refused_at_once_and_quietly(
    patient_sends: Settings, caplog: pytest.LogCaptureFixture,
) -> None:
    own = patient_sends
    await _deleted(own, own.topics.call_events)  # as with a wrong CALLAPI_TOPIC_PREFIX
    tenant: IngestTenant = await asyncio.to_thread(make_tenant, own.database_url)
    caplog.set_level(logging.INFO)
    async with serving(own) as url, httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
        await _until_topic_missing_checked(client, url)
        await _refused_until_created_then_accepted(own, tenant, client, url)
    assert not [r.getMessage() for r in caplog.records if "not found in cluster metadata" in r.getMessage()]


async def test_once_call_events_is_seen_deleted_requests_are_refused_at_once(patient_sends: Settings) -> None:
    own = patient_sends
    tenant: IngestTenant = await asyncio.to_thread(make_tenant, own.database_url)
    async with serving(own) as url, httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:

        async def readyz() -> httpx.Response:
            return await client.get(f"{url}/readyz")

        await _until_status(readyz, 200)
        await delete_topics(own.kafka_bootstrap, [own.topics.call_events])
        await _until_status(readyz, 503)  # a metadata request saw the topic gone
        await _refused_until_created_then_accepted(own, tenant, client, url)


async def _until_topic_missing_checked(client: httpx.AsyncClient, url: str) -> None:
    for _ in range(120):  # connected, and Kafka answered without the topic
        await client.get(f"{url}/readyz")
        if _counter(await client.get(f"{url}/metrics"), TOPIC_MISSING_CHECK) > 0:
            return
        await asyncio.sleep(0.25)
    raise AssertionError("no readiness check found the topic missing")


async def _refused_until_created_then_accepted(
    own: Settings, tenant: IngestTenant, client: httpx.AsyncClient, url: str,
) -> None:
    """Both routes answer 503 naming the topic and the setting while it is missing; once it is created, the same
    process accepts events again and writes them."""
    params = NINE | {"CalledExtension": f"{tenant.code}210"}
    batch = [NINE | {"type": "dial-in", "extension": f"{tenant.code}*210"}]
    notification = await client.get(f"{url}/ingest/{tenant.code}/dial-in", params=params,
                                    headers=bearer(tenant.org_token))
    batched = await client.post(f"{url}/ingest/{tenant.code}/events", json=batch, headers=bearer(tenant.org_token))
    for refused in (notification, batched):
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == str(own.ingest_retry_after_s)
        error = refused.json()["error"]
        assert error["code"] == "kafka_unavailable", error
        assert f"topic {own.topics.call_events} does not exist" in error["message"], error
        assert "CALLAPI_TOPIC_PREFIX" in error["message"], error
    assert (await client.get(f"{url}/readyz")).status_code == 503
    await create_topics(own.kafka_bootstrap, own.topic_specs())
    for _ in range(120):  # the missing topic is looked up again every few seconds, without a restart
        accepted = await client.get(f"{url}/ingest/{tenant.code}/dial-in", params=params,
                                    headers=bearer(tenant.org_token))
        if accepted.status_code != 503:
            break
        await asyncio.sleep(0.25)
    assert accepted.status_code == 202, accepted.text
    on_topic = {json.loads(r.value or b"")["event_id"] for r in
                await read_topic(own, own.topics.call_events, idle_s=2.0)}
    assert on_topic == set(accepted.json()["event_ids"])  # nothing refused was written


async def test_requests_waiting_when_call_events_is_deleted_are_answered_once_kafka_says_it_is_gone(
    patient_sends: Settings,
) -> None:
    """No probe looks first: the requests that find the topic gone are the first to learn it (aiokafka retries their
    records for as long as a send may wait, an hour here), and are answered 503 as soon as Kafka's metadata lacks
    the topic, as every later request is."""
    own = patient_sends
    tenant: IngestTenant = await asyncio.to_thread(make_tenant, own.database_url)
    params = NINE | {"CalledExtension": f"{tenant.code}210"}
    async with serving(own) as url, httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:

        async def send() -> httpx.Response:
            return await client.get(f"{url}/ingest/{tenant.code}/dial-in", params=params,
                                    headers=bearer(tenant.org_token))

        await _until_status(lambda: client.get(f"{url}/readyz"), 200)
        assert (await send()).status_code == 202
        await delete_topics(own.kafka_bootstrap, [own.topics.call_events])
        try:
            refused = await _first_refused(send)
        finally:  # also lets aiokafka write the records it still holds, so the producer can stop
            await create_topics(own.kafka_bootstrap, own.topic_specs())
        for answer in refused:
            error = answer.json()["error"]
            assert error["code"] == "kafka_unavailable", error
            assert f"topic {own.topics.call_events} does not exist" in error["message"], error
            assert answer.headers["Retry-After"] == str(own.ingest_retry_after_s)
        for _ in range(120):  # looked up again every ingest_ready_cache_s
            if (accepted := await send()).status_code != 503:
                break
            await asyncio.sleep(0.25)
        assert accepted.status_code == 202, accepted.text


async def _first_refused(send: Callable[[], Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """The 503s of the first round of three concurrent requests that has any; the broker may still take a record or
    two while it removes the topic."""
    for _ in range(120):
        answers = await asyncio.gather(send(), send(), send())
        assert {answer.status_code for answer in answers} <= {202, 503}, [a.text for a in answers]
        if refused := [answer for answer in answers if answer.status_code == 503]:
            return refused
    raise AssertionError("the topic was deleted, yet every request was still accepted")
