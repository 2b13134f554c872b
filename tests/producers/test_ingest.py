"""The ingest endpoint, served for real on a free port, with the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import httpx
import psycopg
import pytest

from producers.ingest.keys import create_key, revoke_key
from schemas.events import CallEvent
from schemas.ops import free_port
from schemas.settings import Settings
from tests.kafka import read_topic
from tests.processes import settings_env
from tests.producers.helpers import IngestTenant, insert_token, make_tenant
from tests.producers.ingest_server import NINE, bearer, serving, until_ready


async def events_on_topic(settings: Settings, event_ids: list[str]) -> list[CallEvent]:
    records = await read_topic(settings, settings.topics.call_events, idle_s=1.0)
    found = {}
    for record in records:
        event = CallEvent.model_validate_json(record.value or b"")
        assert record.key == event.extension.encode()
        found[event.event_id] = event
    return [found[event_id] for event_id in event_ids]


async def test_get_in_voipnow_form_becomes_a_call_event_with_the_same_nine_parameters(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    params = NINE | {"CalledExtension": f"{tenant.code}210"}
    response = await client.get(f"{ingest_url}/ingest/{tenant.code}/dial-in", params=params,
                                headers=bearer(tenant.org_token))
    assert response.status_code == 202, response.text
    (event_id,) = response.json()["event_ids"]
    (event,) = await events_on_topic(settings, [event_id])
    assert event.parameters == params
    assert (event.type.slug, event.tenant, event.extension) == ("dial-in", tenant.code, f"{tenant.code}*210")


async def test_post_form_with_an_ingest_key_in_the_url(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    key = create_key(settings.database_url, tenant.org_id)
    form = NINE | {"CallStatus": "ANSWER", "CallFlow": "OUT", "CallerExtension": f"{tenant.code}211",
                   "CalledNumber": "+61299990000", "event_id": "given-id-1", "occurred_at": "1795773600"}
    response = await client.post(f"{ingest_url}/ingest/{tenant.code}/2", params={"key": key.key}, data=form)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "event_ids": ["given-id-1"]}
    (event,) = await events_on_topic(settings, ["given-id-1"])
    assert event.parameters == {name: form[name] for name in NINE}
    assert (event.type.slug, event.extension, event.occurred_at.isoformat()) == (
        "hangup", f"{tenant.code}*211", "2026-11-27T10:00:00+00:00")
    assert revoke_key(settings.database_url, key.id)


async def test_a_json_batch_is_accepted_whole(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    batch = [NINE | {"type": t, "extension": f"{tenant.code}*212", "event_id": f"batch-{i}"}
             for i, t in enumerate(["dial-in", "answer-in", "hangup"])]
    response = await client.post(f"{ingest_url}/ingest/{tenant.code}/events", json=batch,
                                 headers=bearer(tenant.provider_token))  # a provider's token grants its orgs
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 3
    events = await events_on_topic(settings, ["batch-0", "batch-1", "batch-2"])
    assert [e.type.slug for e in events] == ["dial-in", "answer-in", "hangup"]
    assert all(e.tenant == tenant.code and e.parameters["CallerIDName"] == "ACME Pty" for e in events)


@pytest.mark.parametrize(("case", "status", "code"), [
    ("missing", 401, "unauthorized"),
    ("unknown", 401, "unauthorized"),
    ("revoked", 401, "unauthorized"),
    ("expired", 401, "unauthorized"),
    ("other tenant", 403, "forbidden"),
])
async def test_bad_credentials_are_refused(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, case: str, status: int,
    code: str,
) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        token = {
            "missing": None, "unknown": "not-a-token",
            "revoked": insert_token(conn, tenant.org_id, revoked=True),
            "expired": insert_token(conn, tenant.org_id, expires_in_s=-5),
            "other tenant": make_tenant(settings.database_url).org_token,
        }[case]
    response = await client.get(f"{ingest_url}/ingest/{tenant.code}/dial-in",
                                params=NINE | {"CalledExtension": f"{tenant.code}210"},
                                headers=bearer(token) if token else {})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    # RFC 6750 3.1: the challenge names the error once a bearer credential came, and only then
    error = {"missing": None, "other tenant": "insufficient_scope"}.get(case, "invalid_token")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="callapi-ingest"'), challenge
    assert (f'error="{error}"' in challenge if error else "error=" not in challenge), challenge


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), [
    ("GET", "ringing", {"params": {"CalledExtension": "{code}210"}}, 404, "type_invalid"),
    ("POST", "9", {"data": {"CalledExtension": "{code}210"}}, 404, "type_invalid"),
    ("POST", "dial-in", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400,
     "invalid_json"),
    ("POST", "dial-in", {"content": b"<xml/>", "headers": {"Content-Type": "text/xml"}}, 415,
     "unsupported_media_type"),
    ("GET", "hangup", {"params": {"CalledExtension": "{code}210"}}, 400, "extension_missing"),
    ("GET", "dial-in", {"params": {"CalledExtension": "12*x"}}, 400, "extension_invalid"),
    ("GET", "dial-in", {"params": {"CalledExtension": "{code}210", "CallFlow": "UP"}}, 400, "callflow_invalid"),
    ("POST", "events", {"content": b"[1,", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json"),
    ("POST", "events", {"json": {"type": "dial-in"}}, 400, "body_invalid"),
    ("POST", "events", {"json": [{"type": "dial-in", "extension": "{code}*210"}, {"type": "x"}]}, 400,
     "schema_invalid"),
    ("POST", "events", {"json": [{"type": "dial-in", "extension": "0000*210"}]}, 403, "forbidden"),
    ("POST", "dial-in", {"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}}, 400,
     "invalid_json"),
    ("POST", "events", {"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}}, 400,
     "invalid_json"),
    ("GET", "dial-in", {"params": {"CalledExtension": "{code}210", "occurred_at": "9999-12-31T23:59:59-14:00"}},
     400, "occurred_at_invalid"),
    ("GET", "dial-in", {"params": {"CalledExtension": "{code}210", "occurred_at": "99999999999999999"}},
     400, "occurred_at_invalid"),
    ("POST", "events", {"json": [{"type": "dial-in", "extension": "{code}*210",
                                  "occurred_at": "0001-01-01T00:00:00+14:00"}]}, 400, "schema_invalid"),
])
async def test_bad_requests_get_a_clear_4xx(
    ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, method: str, path: str,
    kwargs: dict[str, object], status: int, code: str,
) -> None:
    filled: dict[str, Any] = _fill(kwargs, tenant.code)  # type: ignore[assignment]
    response = await client.request(method, f"{ingest_url}/ingest/{tenant.code}/{path}",
                                    headers={**bearer(tenant.org_token), **filled.pop("headers", {})}, **filled)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


@pytest.mark.parametrize(("content_type", "status"), [
    ("application/json", 202),
    ("application/json; charset=utf-8", 202),
    ("Application/JSON; Charset=UTF-8", 202),
    ("text/plain", 415),
    ("text/xml", 415),
    ("application/x-www-form-urlencoded", 415),  # a form is a notification's, not a list of events
    (None, 415),
])
async def test_the_batch_route_takes_the_json_content_types_the_notification_route_takes(
    ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, content_type: str | None, status: int,
) -> None:
    headers = bearer(tenant.org_token) | ({"Content-Type": content_type} if content_type else {})
    batch = json.dumps([NINE | {"type": "dial-in", "extension": f"{tenant.code}*210"}]).encode()
    batched = await client.post(f"{ingest_url}/ingest/{tenant.code}/events", content=batch, headers=headers)
    assert batched.status_code == status, batched.text
    if status == 415:
        error = batched.json()["error"]
        assert error["code"] == "unsupported_media_type" and "application/json" in error["message"], error
    if content_type != "application/x-www-form-urlencoded":  # the notification route reads a form's fields
        notification = json.dumps(NINE | {"CalledExtension": f"{tenant.code}210"}).encode()
        single = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in", content=notification,
                                   headers=headers)
        assert single.status_code == status, single.text
        assert single.json().get("error", {}).get("code") == batched.json().get("error", {}).get("code")


def _fill(value: object, code: str) -> object:
    if isinstance(value, str):
        return value.replace("{code}", code)
    if isinstance(value, dict):
        return {k: _fill(v, code) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, code) for v in value]
    return value


async def test_the_tenant_is_an_organization_code(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    bad = await client.get(f"{ingest_url}/ingest/acme/dial-in", headers=bearer(tenant.org_token))
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "tenant_invalid"
    long = await client.get(f"{ingest_url}/ingest/12345/dial-in", headers=bearer(tenant.org_token))
    assert long.status_code == 404 and long.json()["error"]["code"] == "tenant_invalid"
    small = await asyncio.to_thread(make_tenant, settings.database_url, codes=range(100, 1000))
    short = small.code.lstrip("0")  # `312` is organization 0312
    response = await client.get(f"{ingest_url}/ingest/{short}/dial-in", headers=bearer(small.org_token),
                                params=NINE | {"CalledExtension": f"{small.code}210"})
    assert response.status_code == 202, response.text


async def test_ops_endpoints_and_metrics(ingest_url: str, client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{ingest_url}/healthz")).json() == {"status": "ok"}
    assert (await client.get(f"{ingest_url}/readyz")).status_code == 200
    metrics = (await client.get(f"{ingest_url}/metrics")).text
    assert 'callapi_ingest_requests_total{route="notification",status="202"}' in metrics
    assert 'callapi_ingest_events_total{outcome="accepted"}' in metrics
    assert "callapi_producer_records_total" in metrics
    missing = await client.get(f"{ingest_url}/nowhere")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_kafka_unavailable_answers_503_with_retry_after(
    no_kafka_settings: Settings, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    async with serving(no_kafka_settings) as url:
        response = await client.get(f"{url}/ingest/{tenant.code}/dial-in", headers=bearer(tenant.org_token),
                                    params=NINE | {"CalledExtension": f"{tenant.code}210"})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.json()["error"]["code"] == "kafka_unavailable"
        assert (await client.get(f"{url}/readyz")).status_code == 503


@pytest.fixture
def no_kafka_settings(settings: Settings) -> Settings:
    """The module's settings with Kafka pointed where nothing listens."""
    return settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})


async def test_ingest_keys_from_the_command_line_work_until_revoked(
    settings: Settings, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "callapi_events", "ingest-key", *args], env=settings_env(settings),
                              capture_output=True, text=True, timeout=60, check=False)

    created = await asyncio.to_thread(cli, "create", "--org", str(tenant.org_id), "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["tenant"] == tenant.code and key["key"].startswith("cik_")
    params = NINE | {"CalledExtension": f"{tenant.code}210", "key": key["key"]}
    async with serving(settings, cache_s=0) as url:
        await until_ready(client, url)
        assert (await client.get(f"{url}/ingest/{tenant.code}/dial-in", params=params)).status_code == 202
        other = await client.get(f"{url}/ingest/0000/dial-in", params=params)
        assert other.status_code == 403
        revoked = await asyncio.to_thread(cli, "revoke", str(key["id"]))
        assert revoked.returncode == 0, revoked.stdout + revoked.stderr
        again = await asyncio.to_thread(cli, "revoke", str(key["id"]))  # refused input, as in `admin`: 2
        assert again.returncode == 2 and f"No active ingest key {key['id']}" in again.stderr, again.stderr
        refused = await client.get(f"{url}/ingest/{tenant.code}/dial-in", params=params)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    missing = await asyncio.to_thread(cli, "create", "--org", "999999999")
    assert missing.returncode == 2 and "not an organization" in missing.stdout + missing.stderr  # refused input
