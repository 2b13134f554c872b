"""Odd input on the ingest endpoint, served for real with the real broker and PostgreSQL: each is refused with a 4xx
in the error shape, and nothing of a refused request reaches call-events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from schemas.settings import Settings
from tests.kafka import read_topic
from tests.producers.helpers import IngestTenant, make_tenant
from tests.producers.test_ingest import NINE, _until_ready, bearer, serving


@pytest.fixture(scope="module")
async def ingest_url(settings: Settings) -> AsyncIterator[str]:
    async with serving(settings) as url, httpx.AsyncClient() as client:
        await _until_ready(client, url)
        yield url


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> IngestTenant:
    return make_tenant(settings.database_url)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


def refusal(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return response.status_code, str(body["error"]["code"])


async def on_topic(settings: Settings, event_id: str) -> bool:
    """Whether an event with `event_id` was written to call-events (the test's own topic)."""
    records = await read_topic(settings, settings.topics.call_events, idle_s=1.0)
    return any(f'"event_id":"{event_id}"'.encode() in (record.value or b"") for record in records)


def notification(tenant: IngestTenant, event_id: str) -> dict[str, str]:
    return NINE | {"CalledExtension": f"{tenant.code}210", "event_id": event_id}


@pytest.mark.parametrize("field", ["CallerIDName", "CallID"])
async def test_a_parameter_sent_as_a_file_is_refused_not_stored_as_the_files_description(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, field: str,
) -> None:
    event_id = f"file-{uuid.uuid4().hex}"
    form = {name: value for name, value in notification(tenant, event_id).items() if name != field}
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in", data=form,
                               files={field: ("value.txt", b"ACME Pty")}, headers=bearer(tenant.org_token))
    assert refusal(answer) == (400, "body_invalid"), answer.text
    assert field in answer.json()["error"]["message"]
    assert not await on_topic(settings, event_id)


async def test_a_multipart_form_of_fields_is_still_accepted(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    event_id = f"fields-{uuid.uuid4().hex}"
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in", headers=bearer(tenant.org_token),
                               files={name: (None, value.encode()) for name, value in
                                      notification(tenant, event_id).items()})
    assert answer.status_code == 202, answer.text
    assert await on_topic(settings, event_id)
