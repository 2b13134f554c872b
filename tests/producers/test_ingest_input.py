"""Odd input on the ingest endpoint, served for real with the real broker and PostgreSQL: each is refused with a 4xx
in the error shape, and nothing of a refused request reaches call-events."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from producers.ingest.keys import create_key
from schemas.events import CallEvent
from schemas.settings import Settings
from tests.kafka import read_topic
from tests.producers.helpers import IngestTenant
from tests.producers.ingest_server import NINE, bearer


def refusal(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return response.status_code, str(body["error"]["code"])


async def on_topic(settings: Settings, event_id: str) -> bool:
    """Whether an event with `event_id` was written to call-events (the test's own topic)."""
    records = await read_topic(settings, settings.topics.call_events, idle_s=1.0)
    return any(f'"event_id":"{event_id}"'.encode() in (record.value or b"") for record in records)


def bearer_challenge(error: str, description: str) -> str:
    """RFC 6750 3: the challenge on an answer to a request that tried bearer authentication, with the 401s' realm."""
    return f'Bearer realm="callapi-ingest", error="{error}", error_description="{description}"'


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


@pytest.mark.parametrize("repeat", ["CallID=1795773600.43", "CalledExtension={code}211", "CallFlow=OUT",
                                    "event_id=another", "CallerIDName=ACME%20Pty"])
async def test_a_parameter_sent_twice_in_the_query_is_refused(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, repeat: str,
) -> None:
    event_id = f"twice-{uuid.uuid4().hex}"
    query = httpx.QueryParams(notification(tenant, event_id))
    answer = await client.get(f"{ingest_url}/ingest/{tenant.code}/dial-in?{query}&{repeat.format(code=tenant.code)}",
                              headers=bearer(tenant.org_token))
    assert refusal(answer) == (400, "parameter_repeated"), answer.text
    assert repeat.partition("=")[0] in answer.json()["error"]["message"]
    assert "WWW-Authenticate" not in answer.headers  # not a credential's fault: no bearer challenge
    assert not await on_topic(settings, event_id)


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
async def test_a_parameter_sent_twice_in_the_form_is_refused(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, multipart: bool,
) -> None:
    event_id = f"twice-{uuid.uuid4().hex}"
    fields = [*notification(tenant, event_id).items(), ("CallID", "1795773600.43")]
    url, headers = f"{ingest_url}/ingest/{tenant.code}/dial-in", bearer(tenant.org_token)
    if multipart:
        answer = await client.post(url, headers=headers, files=[(n, (None, v.encode())) for n, v in fields])
    else:
        answer = await client.post(url, content=str(httpx.QueryParams(fields)).encode(),
                                   headers=headers | {"Content-Type": "application/x-www-form-urlencoded"})
    assert refusal(answer) == (400, "parameter_repeated"), answer.text
    assert not await on_topic(settings, event_id)


async def test_a_form_field_may_still_stand_in_for_the_querys(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    """The URL's own query and the body are two sources: the body's value wins, as before."""
    event_id = f"overlay-{uuid.uuid4().hex}"
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in", params={"CallID": "from-the-url"},
                               data=notification(tenant, event_id), headers=bearer(tenant.org_token))
    assert answer.status_code == 202, answer.text
    assert await on_topic(settings, event_id)


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(("body", "code"), [
    ('{"CallID": "1.1", "CallID": "2.2", %s}', "invalid_json"),
    ('{"CallID": NaN, %s}', "invalid_json"),
    ('{"CallID": Infinity, %s}', "invalid_json"),
    ('{"CallID": true, %s}', "body_invalid"),
])
async def test_a_json_notification_with_a_repeated_name_nan_or_a_boolean_is_refused(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, body: str, code: str,
) -> None:
    event_id = f"json-{uuid.uuid4().hex}"
    rest = f'"CalledExtension": "{tenant.code}210", "CallFlow": "IN", "event_id": "{event_id}"'
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in", content=(body % rest).encode(),
                               headers=bearer(tenant.org_token) | JSON)
    assert refusal(answer) == (400, code), answer.text
    assert not await on_topic(settings, event_id)


@pytest.mark.parametrize("item", ['{"type": "dial-in", "type": "hangup", %s}', '{"type": "dial-in", %s, "x": NaN}',
                                  '{"type": "dial-in", %s, "x": {"a": 1, "a": 2}}'])
async def test_a_batch_with_a_repeated_name_or_nan_is_refused_whole(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, item: str,
) -> None:
    good_id, bad_id = f"good-{uuid.uuid4().hex}", f"bad-{uuid.uuid4().hex}"
    common = f'"extension": "{tenant.code}*210", "CallFlow": "IN", "CallStatus": "CALLING"'
    good = f'{{"type": "dial-in", {common}, "event_id": "{good_id}"}}'
    bad = item % f'{common}, "event_id": "{bad_id}"'
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/events", content=f"[{good}, {bad}]".encode(),
                               headers=bearer(tenant.org_token) | JSON)
    assert refusal(answer) == (400, "invalid_json"), answer.text
    assert not await on_topic(settings, good_id) and not await on_topic(settings, bad_id)


async def test_numbers_in_a_json_notification_still_arrive_as_text(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    event_id = f"numbers-{uuid.uuid4().hex}"
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in", headers=bearer(tenant.org_token),
                               json={"CallID": 1795773600.42, "CalledExtension": int(f"{tenant.code}210"),
                                     "CallFlow": "IN", "event_id": event_id})
    assert answer.status_code == 202, answer.text
    assert await on_topic(settings, event_id)


PART = b'--x\r\nContent-Disposition: form-data; name="CallID"\r\n'


@pytest.mark.parametrize("body", [
    b"--x\r\nbroken",
    b"--x\r\nbroken\r\n\r\nvalue\r\n--x--\r\n",
    PART + b"\r\n1.1",
    b"--x\r\nContent-Disposition: form-data\r\n\r\n1.1\r\n--x--\r\n",
    PART + b"Content-Transfer-Encoding: bogus\r\n\r\n1\r\n--x--\r\n",
    PART + b"Content-Type: text/plain; charset=nope\r\n\r\n1\r\n--x--\r\n",
    PART + b"Content-Type: multipart/mixed; boundary=y\r\n\r\n--y\r\n\r\n1\r\n--y--\r\n--x--\r\n",
    b"garbage before the first boundary",
])
async def test_a_malformed_multipart_body_is_body_invalid(
    ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, body: bytes,
) -> None:
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in", content=body,
                               headers=bearer(tenant.org_token) | {"Content-Type": "multipart/form-data; boundary=x"})
    assert refusal(answer) == (400, "body_invalid"), answer.text


async def test_two_authorization_headers_are_refused_whichever_comes_first(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    for pair in ([tenant.org_token, "nope"], ["nope", tenant.org_token]):
        event_id = f"auth-{uuid.uuid4().hex}"
        answer = await client.get(f"{ingest_url}/ingest/{tenant.code}/dial-in", params=notification(tenant, event_id),
                                  headers=[("Authorization", f"Bearer {token}") for token in pair])
        assert refusal(answer) == (401, "unauthorized"), answer.text
        assert not await on_topic(settings, event_id)


async def test_a_method_a_route_does_not_take_answers_405_naming_the_methods_it_takes(
    ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    batch = await client.get(f"{ingest_url}/ingest/{tenant.code}/events", headers=bearer(tenant.org_token))
    assert (batch.status_code, batch.headers.get("Allow")) == (405, "POST"), batch.text
    assert batch.json()["error"]["code"] == "method_not_allowed"
    put = await client.put(f"{ingest_url}/ingest/{tenant.code}/dial-in", headers=bearer(tenant.org_token))
    assert put.status_code == 405 and put.json()["error"]["code"] == "method_not_allowed", put.text
    assert {method.strip() for method in put.headers.get("Allow", "").split(",")} >= {"GET", "POST"}


@pytest.mark.parametrize(("header", "key"), [("org token", "bogus"), ("bogus", "ingest key"),
                                             ("ingest key", "ingest key"), ("org token", "")],
                         ids=["header-valid", "key-valid", "same-key-twice", "empty-key"])
@pytest.mark.parametrize("route", ["dial-in", "events"])
async def test_a_token_in_the_header_and_a_key_in_the_url_are_refused_not_one_picked(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, header: str, key: str,
    route: str,
) -> None:
    """RFC 6750 2: a client uses one method to send its token, so which of two the endpoint should judge is
    no one's guess."""
    ingest_key = create_key(settings.database_url, tenant.org_id).key
    chosen = {"org token": tenant.org_token, "ingest key": ingest_key, "bogus": "not-a-token", "": ""}
    event_id = f"methods-{uuid.uuid4().hex}"
    url, params = f"{ingest_url}/ingest/{tenant.code}/{route}", {"key": chosen[key]}
    if route == "events":
        answer = await client.post(url, params=params, headers=bearer(chosen[header]),
                                   json=[NINE | {"type": "dial-in", "extension": f"{tenant.code}*210",
                                                 "event_id": event_id}])
    else:
        answer = await client.get(url, params=notification(tenant, event_id) | params,
                                  headers=bearer(chosen[header]))
    assert refusal(answer) == (400, "invalid_request"), answer.text
    message = answer.json()["error"]["message"]
    assert "Authorization" in message and "?key=" in message and "not both" in message, message
    assert answer.headers.get("WWW-Authenticate") == bearer_challenge("invalid_request", message), answer.headers
    assert not await on_topic(settings, event_id)


async def test_a_key_sent_twice_in_the_url_of_a_batch_is_refused(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    ingest_key = create_key(settings.database_url, tenant.org_id).key
    event_id = f"keys-{uuid.uuid4().hex}"
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/events?key={ingest_key}&key=not-a-key",
                               json=[NINE | {"type": "dial-in", "extension": f"{tenant.code}*210",
                                             "event_id": event_id}])
    assert refusal(answer) == (400, "parameter_repeated"), answer.text
    assert answer.headers.get("WWW-Authenticate") == bearer_challenge(  # RFC 6750 3.1: "repeats the same parameter"
        "invalid_request", answer.json()["error"]["message"]), answer.headers
    assert not await on_topic(settings, event_id)


@pytest.mark.parametrize("body", ["form", "json"])
@pytest.mark.parametrize("credential", ["header", "url"])
async def test_a_key_in_the_body_is_refused_not_ignored(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, body: str, credential: str,
) -> None:
    """The body is not where the endpoint reads a key: one there beside the URL's or the header's credential
    is a second method, and alone it is no credential at all."""
    ingest_key = create_key(settings.database_url, tenant.org_id).key
    event_id = f"body-key-{uuid.uuid4().hex}"
    fields = notification(tenant, event_id) | {"key": ingest_key}
    sent = {"data": fields} if body == "form" else {"json": fields}
    url = f"{ingest_url}/ingest/{tenant.code}/dial-in"
    if credential == "header":
        answer = await client.post(url, headers=bearer(tenant.org_token), **sent)  # type: ignore[arg-type]
    else:
        answer = await client.post(url, params={"key": ingest_key}, **sent)  # type: ignore[arg-type]
    assert refusal(answer) == (400, "invalid_request"), answer.text
    assert "?key=" in answer.json()["error"]["message"], answer.text
    assert answer.headers.get("WWW-Authenticate") == bearer_challenge(
        "invalid_request", answer.json()["error"]["message"]), answer.headers
    alone = await client.post(url, **sent)  # type: ignore[arg-type]
    assert refusal(alone) == (401, "unauthorized"), alone.text
    assert not await on_topic(settings, event_id)


NUMBERS = {"CallID": 1795773600.42, "CallerIDNum": 1001, "CalledDID": 61280001234, "CallerIDName": None}


async def test_numbers_and_null_in_a_batch_arrive_as_the_same_text_a_json_notification_makes_of_them(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    single_id, batched_id = f"single-{uuid.uuid4().hex}", f"batched-{uuid.uuid4().hex}"
    single = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in", headers=bearer(tenant.org_token),
                               json=NINE | NUMBERS | {"CalledExtension": int(f"{tenant.code}210"),
                                                      "event_id": single_id})
    batched = await client.post(f"{ingest_url}/ingest/{tenant.code}/events", headers=bearer(tenant.org_token),
                                json=[NINE | NUMBERS | {"type": "dial-in", "extension": int(f"{tenant.code}210"),
                                                        "CalledExtension": int(f"{tenant.code}210"),
                                                        "event_id": batched_id}])
    assert (single.status_code, batched.status_code) == (202, 202), (single.text, batched.text)
    records = await read_topic(settings, settings.topics.call_events, idle_s=1.0)
    events = {event.event_id: event for event in
              (CallEvent.model_validate_json(record.value or b"") for record in records)}
    assert events[batched_id].parameters == events[single_id].parameters
    assert events[batched_id].parameters | {"CalledExtension": ""} == NINE | {
        "CallID": "1795773600.42", "CallerIDNum": "1001", "CalledDID": "61280001234", "CallerIDName": ""}
    assert events[batched_id].extension == f"{tenant.code}*210"


@pytest.mark.parametrize("value", ["true", "false", '{"n": 1001}', "[1001]"])
@pytest.mark.parametrize("field", ["CallerIDNum", "extension"])
async def test_a_batch_refuses_what_a_json_notification_refuses_as_a_parameter_value(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, value: str, field: str,
) -> None:
    event_id = f"refused-{uuid.uuid4().hex}"
    item = NINE | {"type": "dial-in", "extension": f"{tenant.code}*210", "event_id": event_id}
    body = json.dumps([item | {field: "VALUE"}]).replace('"VALUE"', value)
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/events", content=body.encode(),
                               headers=bearer(tenant.org_token) | JSON)
    assert refusal(answer) == (400, "schema_invalid"), answer.text
    message = answer.json()["error"]["message"]
    assert message.startswith(f"events[0]: {field}:") and "text, a number or null" in message, message
    assert not await on_topic(settings, event_id)
