"""Wire models: validation rules (tables), and every model's round trip through a real Kafka topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.attempts import DeliveryAttempt, Outcome
from schemas.codec import decode, decode_list, encode, encode_list
from schemas.errors import InvalidRecord
from schemas.events import PARAMETER_NAMES, CallEvent, EventType
from schemas.extensions import canonical_extension
from schemas.jobs import DeliveryJob, job_id_for
from schemas.jsonschema import JSON_DIR, rendered
from schemas.requests import EventRequest, ExtensionRequests, HttpMethod
from schemas.settings import Settings
from tests.kafka import produce, read_topic

NOW = datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC)


def call_event(**overrides: object) -> dict[str, object]:
    return {
        "event_id": "0193b0c2-7d2e-7c1a-9f00-000000000001", "type": "dial-in",
        "occurred_at": "2026-11-27T10:00:00.123Z", "tenant": "0003", "extension": "0003*210",
        "CallID": "1732701600.42", "CallerIDNum": "+61299990000", "CallerIDName": "ACME Pty",
        "CalledDID": "+61280001234", "CalledExtension": "0003*210", "CallStatus": "CALLING", "CallFlow": "IN",
        "CallerExtension": "", "CalledNumber": "+61280001234", **overrides,
    }


@pytest.mark.parametrize(
    ("given_value", "canonical"),
    [("0003*210", "0003*210"), ("12340101", "1234*0101"), ("3*210", "0003*210"), (" 0003*210 ", "0003*210")],
)
def test_extension_forms_normalise_to_one(given_value: str, canonical: str) -> None:
    assert canonical_extension(given_value) == canonical


@pytest.mark.parametrize("bad", ["", "abc", "0003*", "*210", "123", "0003**210", "0003*21a", "0003*\uff12\uff11",
                                 "\u0660\u0660\u0660\u0663\u0662\u0661", "12345*210"])
def test_bad_extensions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="extension"):
        canonical_extension(bad)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [("dial-in", EventType.DIAL_IN), ("dial-out", EventType.DIAL_OUT), ("hangup", EventType.HANGUP),
     ("answer-in", EventType.ANSWER_IN), ("answer-out", EventType.ANSWER_OUT), (2, EventType.HANGUP),
     ("4", EventType.ANSWER_OUT), ("DIAL_OUT", EventType.DIAL_OUT)],
)
def test_event_types_read_from_slug_name_or_voipnow_number(wire: object, expected: EventType) -> None:
    event = CallEvent.model_validate(call_event(type=wire))
    assert event.type is expected
    assert json.loads(encode(event))["type"] == expected.slug


@pytest.mark.parametrize("wire", ["\u0663", "\uff13", "\u00b3", "5", True, "ringing"])
def test_event_types_other_than_the_five_are_refused(wire: object) -> None:
    """Only ASCII digits name a VoipNow number: Arabic-Indic, full-width and superscript 3 are not 3."""
    with pytest.raises(ValueError, match="event type"):
        EventType.parse(wire)


def test_call_event_keeps_the_nine_parameters_and_unknown_fields() -> None:
    event = decode(CallEvent, json.dumps(call_event(extension="00030210", future_field=7)).encode())
    assert event.extension == "0003*0210"
    assert list(event.parameters) == list(PARAMETER_NAMES)
    assert event.parameters["CallerIDName"] == "ACME Pty"
    assert json.loads(encode(event))["future_field"] == 7


def test_tenant_defaults_to_the_extensions_organization() -> None:
    data = call_event()
    del data["tenant"]
    assert CallEvent.model_validate(data).tenant == "0003"


def test_a_tenant_without_its_leading_zeros_reads_as_the_extensions_organization() -> None:
    assert CallEvent.model_validate(call_event(tenant="3")).tenant == "0003"


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (b"{not json", "invalid_json", "JSON"),
        (json.dumps(call_event(type="ringing")).encode(), "schema_invalid", "type"),
        (json.dumps(call_event(extension="abc")).encode(), "schema_invalid", "extension"),
        (json.dumps(call_event(tenant="9999")).encode(), "schema_invalid", "tenant"),
        (json.dumps(call_event(occurred_at="2026-11-27T10:00:00")).encode(), "schema_invalid", "time zone"),
        (json.dumps(call_event(occurred_at="9999-12-31T23:59:59-14:00")).encode(), "schema_invalid", "UTC"),
        (json.dumps(call_event(event_id="a\u0000b")).encode(), "schema_invalid", "event_id"),
        (json.dumps({k: v for k, v in call_event().items() if k != "event_id"}).encode(), "schema_invalid", "event_id"),
        (b"[]", "schema_invalid", "object"),
        (b"x" * 70_000, "too_large", "cap"),
    ],
)
def test_invalid_events_raise_one_error_with_the_reason(raw: bytes, reason: str, detail: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        decode(CallEvent, raw, max_bytes=65_536)
    assert caught.value.reason == reason
    assert detail in caught.value.detail


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_job_ids_are_deterministic_and_distinct(event_id: str, request_id: str) -> None:
    assert job_id_for(event_id, request_id) == job_id_for(event_id, request_id)
    assert job_id_for(event_id, request_id) != job_id_for(event_id + "x", request_id)
    assert job_id_for(event_id, request_id).startswith("msg_")


def sample_request() -> EventRequest:
    return EventRequest(
        id="R1a2b3", extension="0003*210", type=EventType.HANGUP, method=HttpMethod.POST,
        url="https://example.com/hook?x=1", enabled=True, note="CRM", signing_secrets=("whsec_AAAA",), modified=NOW,
    )


def sample_job() -> DeliveryJob:
    event = CallEvent.model_validate(call_event())
    return DeliveryJob(
        job_id=job_id_for(event.event_id, "R1a2b3"), event_id=event.event_id, event_type=event.type,
        tenant=event.tenant, extension=event.extension, request_id="R1a2b3", method=HttpMethod.GET,
        url="https://example.com/hook", params=event.parameters, sequence=7, occurred_at=event.occurred_at,
        processed_at=NOW,
    )


def sample_attempt() -> DeliveryAttempt:
    job = sample_job()
    return DeliveryAttempt(
        job_id=job.job_id, event_id=job.event_id, event_type=job.event_type, tenant=job.tenant,
        extension=job.extension, request_id=job.request_id, attempt=1, outcome=Outcome.DELIVERED,
        status_code=204, duration_ms=3.5, attempted_at=NOW,
    )


async def test_every_model_round_trips_through_a_real_topic(settings: Settings) -> None:
    event = CallEvent.model_validate(call_event())
    requests = [sample_request()]
    job, attempt = sample_job(), sample_attempt()
    topics = settings.topics
    await produce(settings, topics.call_events, [(event.extension, encode(event))])
    await produce(settings, topics.event_requests, [("0003*210", encode_list(ExtensionRequests, requests))])
    await produce(settings, topics.deliveries, [(job.extension, encode(job))])
    await produce(settings, topics.delivery_attempts, [(attempt.extension, encode(attempt))])

    (event_record,) = await read_topic(settings, topics.call_events, count=1)
    assert event_record.key == b"0003*210"
    assert decode(CallEvent, event_record.value) == event
    (config_record,) = await read_topic(settings, topics.event_requests, count=1)
    assert decode_list(ExtensionRequests, config_record.value) == requests
    (job_record,) = await read_topic(settings, topics.deliveries, count=1)
    assert decode(DeliveryJob, job_record.value) == job
    (attempt_record,) = await read_topic(settings, topics.delivery_attempts, count=1)
    assert decode(DeliveryAttempt, attempt_record.value) == attempt


@pytest.mark.parametrize(("wire", "accepted"), [
    ("dial-in", True), ("HANGUP", True), ("answer_out", True), (2, True), ("4", True), (5, False), ("ringing", False),
])
def test_the_published_call_event_schema_takes_the_event_types_the_model_takes(wire: object, accepted: bool) -> None:
    """Producers that check their events against schemas/json/CallEvent.json may write VoipNow's numbers too."""
    schema = json.loads((JSON_DIR / "CallEvent.json").read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(call_event(type=wire)))
    assert (not errors) is accepted, errors
    job_schema = json.loads((JSON_DIR / "DeliveryJob.json").read_text())
    assert job_schema["properties"]["event_type"]["enum"] == [t.slug for t in EventType]  # written as its slug


def test_the_published_call_event_schema_takes_an_event_without_its_tenant_as_the_model_does() -> None:
    event = call_event()
    del event["tenant"]
    assert CallEvent.model_validate(event).tenant == "0003"
    schema = json.loads((JSON_DIR / "CallEvent.json").read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(event)) == []


def test_committed_json_schemas_match_the_models() -> None:
    stale = [name for name, text in rendered().items() if (JSON_DIR / name).read_text() != text]
    assert not stale, f"{stale} are stale: run `python -m schemas` and commit the result"
