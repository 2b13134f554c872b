"""Parameters that are not UTF-8 on the ingest endpoint, served for real with the real broker: legacy PBXs and SIP
devices send display names in ISO-8859-1 / Windows-1252, and what lands on call-events must be the caller's name,
not U+FFFD in its place. A declared charset is followed; a NUL is a character like any other."""

from __future__ import annotations

import uuid

import httpx
import pytest

from schemas.events import CallEvent
from schemas.settings import Settings
from tests.kafka import read_topic
from tests.producers.helpers import IngestTenant
from tests.producers.ingest_server import NINE, bearer

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def published(settings: Settings, event_id: str) -> CallEvent:
    """The event with `event_id` as it is on call-events (the test module's own topic)."""
    records = await read_topic(settings, settings.topics.call_events, idle_s=1.0)
    events = [CallEvent.model_validate_json(record.value or b"") for record in records]
    (event,) = [event for event in events if event.event_id == event_id]
    return event


def notification(tenant: IngestTenant, event_id: str, *left_out: str) -> str:
    """The notification but CallerIDName (and `left_out`), form-encoded, to append raw `&CallerIDName=…` to."""
    fields = NINE | {"CalledExtension": f"{tenant.code}210", "event_id": event_id}
    return str(httpx.QueryParams({name: value for name, value in fields.items()
                                  if name not in ("CallerIDName", *left_out)}))


async def fallbacks(client: httpx.AsyncClient, url: str, source: str) -> float:
    """callapi_ingest_latin1_fallback_total{source=…} as /metrics says it now (0 before the first)."""
    for line in (await client.get(f"{url}/metrics")).text.splitlines():
        if line.startswith(f'callapi_ingest_latin1_fallback_total{{source="{source}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def notify(client: httpx.AsyncClient, ingest_url: str, tenant: IngestTenant, sent: str, *,
                 via: str) -> httpx.Response:
    """A Dial-In notification of the form-encoded `sent`, in the query string (GET) or as a form body (POST)."""
    url = f"{ingest_url}/ingest/{tenant.code}/dial-in"
    if via == "query":
        return await client.get(f"{url}?{sent}", headers=bearer(tenant.org_token))
    return await client.post(url, content=sent.encode(), headers=bearer(tenant.org_token) | FORM)


@pytest.mark.parametrize(("escaped", "name"), [
    ("M%FCller", "Müller"),                  # ISO-8859-1, as legacy PBXs send display names
    ("Jos%E9+Pe%F1a", "José Peña"),
    ("%80uro+Caf%E9", "€uro Café"),            # Windows-1252's own 0x80, the euro sign
    ("%81%8D%8F%90%9D", "\x81\x8d\x8f\x90\x9d"),  # the five bytes Windows-1252 leaves out: still one character each
])
@pytest.mark.parametrize("via", ["query", "form"])
async def test_a_latin1_parameter_arrives_as_the_callers_name_not_replacement_characters(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, escaped: str, name: str,
    via: str,
) -> None:
    event_id = f"latin1-{uuid.uuid4().hex}"
    before = await fallbacks(client, ingest_url, via)
    sent = f"{notification(tenant, event_id)}&CallerIDName={escaped}"
    answer = await notify(client, ingest_url, tenant, sent, via=via)
    assert answer.status_code == 202, answer.text
    assert (await published(settings, event_id)).parameters["CallerIDName"] == name
    assert await fallbacks(client, ingest_url, via) == before + 1


@pytest.mark.parametrize("via", ["query", "form"])
async def test_utf8_parameters_stay_utf8_and_are_not_counted_as_a_fallback(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, via: str,
) -> None:
    event_id = f"utf8-{uuid.uuid4().hex}"
    before = await fallbacks(client, ingest_url, via)
    sent = f"{notification(tenant, event_id)}&CallerIDName=M%C3%BCller+%E2%82%AC+%E5%BC%A0%E4%BC%9F+a%2Bb%26c%3Dd"
    answer = await notify(client, ingest_url, tenant, sent, via=via)
    assert answer.status_code == 202, answer.text
    assert (await published(settings, event_id)).parameters["CallerIDName"] == "Müller € 张伟 a+b&c=d"
    assert await fallbacks(client, ingest_url, via) == before


async def test_each_parameter_is_read_on_its_own_utf8_beside_latin1(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    """A PBX that passes a SIP display name through as it came (Latin-1) and writes its own fields in UTF-8."""
    event_id = f"mixed-{uuid.uuid4().hex}"
    sent = f"{notification(tenant, event_id, 'CalledNumber')}&CallerIDName=M%FCller&CalledNumber=Z%C3%BCrich"
    answer = await client.get(f"{ingest_url}/ingest/{tenant.code}/dial-in?{sent}", headers=bearer(tenant.org_token))
    assert answer.status_code == 202, answer.text
    parameters = (await published(settings, event_id)).parameters
    assert (parameters["CallerIDName"], parameters["CalledNumber"]) == ("Müller", "Zürich")


def multipart(fields: dict[str, bytes], *, content_type: bytes | None) -> bytes:
    """A multipart/form-data body (boundary `x`) whose CallerIDName part has `content_type`, or none."""
    parts = []
    for name, value in fields.items():
        header = f'Content-Disposition: form-data; name="{name}"\r\n'.encode()
        if name == "CallerIDName" and content_type is not None:
            header += b"Content-Type: " + content_type + b"\r\n"
        parts.append(b"--x\r\n" + header + b"\r\n" + value + b"\r\n")
    return b"".join(parts) + b"--x--\r\n"


@pytest.mark.parametrize(("content_type", "raw", "name", "counted"), [
    (None, b"M\xfcller", "Müller", True),                                   # no charset: UTF-8, else Windows-1252
    (b"text/plain", b"M\xfcller", "Müller", True),
    (b"text/plain; charset=utf-8", b"M\xfcller", "Müller", True),            # UTF-8 declared, Latin-1 sent
    (None, "Müller".encode(), "Müller", False),
    (b"text/plain; charset=iso-8859-1", b"M\xfcller", "Müller", False),     # a declared charset is followed
    (b"text/plain; charset=koi8-r", "Пётр".encode("koi8-r"), "Пётр", False),
])
async def test_a_multipart_part_is_read_in_its_declared_charset_else_utf8_else_windows_1252(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
    content_type: bytes | None, raw: bytes, name: str, counted: bool,
) -> None:
    event_id = f"multipart-{uuid.uuid4().hex}"
    before = await fallbacks(client, ingest_url, "multipart")
    fields = {key: value.encode() for key, value in NINE.items()} | {
        "CalledExtension": f"{tenant.code}210".encode(), "event_id": event_id.encode(), "CallerIDName": raw}
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in",
                               content=multipart(fields, content_type=content_type),
                               headers=bearer(tenant.org_token) | {"Content-Type": "multipart/form-data; boundary=x"})
    assert answer.status_code == 202, answer.text
    assert (await published(settings, event_id)).parameters["CallerIDName"] == name
    assert await fallbacks(client, ingest_url, "multipart") == before + (1 if counted else 0)


async def test_a_urlencoded_form_in_a_declared_charset_is_read_in_that_charset(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient,
) -> None:
    event_id = f"declared-{uuid.uuid4().hex}"
    sent = f"{notification(tenant, event_id)}&CallerIDName=%F0%A3%D4%D2"  # "Пётр" in KOI8-R
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in", content=sent.encode(),
                               headers=bearer(tenant.org_token) | {
                                   "Content-Type": "application/x-www-form-urlencoded; charset=koi8-r"})
    assert answer.status_code == 202, answer.text
    assert (await published(settings, event_id)).parameters["CallerIDName"] == "Пётр"


@pytest.mark.parametrize("body", [b"CallerIDName=%F0%C5", b"CallerIDName=\xff"])
async def test_a_form_that_is_not_in_its_declared_charset_is_refused_not_guessed(
    ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, body: bytes,
) -> None:
    answer = await client.post(f"{ingest_url}/ingest/{tenant.code}/dial-in", content=body,
                               headers=bearer(tenant.org_token) | {
                                   "Content-Type": "application/x-www-form-urlencoded; charset=shift_jis"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "body_invalid"), answer.text
    assert "CallerIDName" in answer.json()["error"]["message"] and "shift_jis" in answer.json()["error"]["message"]


@pytest.mark.parametrize("via", ["query", "form"])
async def test_a_nul_in_a_parameter_is_kept_as_sent(
    settings: Settings, ingest_url: str, tenant: IngestTenant, client: httpx.AsyncClient, via: str,
) -> None:
    """Nothing downstream keeps parameters in PostgreSQL text (which cannot hold NUL): Kafka, the notification's
    form and query carry it (as %00), so it is accepted, not refused."""
    event_id = f"nul-{uuid.uuid4().hex}"
    sent = f"{notification(tenant, event_id)}&CallerIDName=ACME%00Pty"
    answer = await notify(client, ingest_url, tenant, sent, via=via)
    assert answer.status_code == 202, answer.text
    assert (await published(settings, event_id)).parameters["CallerIDName"] == "ACME\x00Pty"
