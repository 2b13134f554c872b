"""Pure parts of the producers: event ids, the VoipNow notification parser, the credential cache."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.errors import IngestRejected, InvalidEvent
from producers.ids import new_event_id, uuid7
from producers.ingest.auth import GrantCache, credential
from producers.ingest.charset import WINDOWS_1252, decode_form, text_of, utf8_form
from producers.ingest.readiness import Verdict
from producers.ingest.voipnow import (
    event_from_json,
    event_from_notification,
    owning_extension,
    parameter_text,
    parse_occurred_at,
)
from producers.sdk import to_event, to_record
from schemas.events import EventType

NOW = datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC)
FIXED_ID = "0193b0c2-0000-7000-8000-000000000000"


def _new_id(_: datetime) -> str:
    return FIXED_ID


@given(st.integers(0, (1 << 48) - 1), st.integers(0, (1 << 74) - 1))
def test_uuid7_has_version_7_variant_and_the_timestamp(unix_ms: int, rand: int) -> None:
    value = uuid.UUID(uuid7(unix_ms, rand))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == unix_ms
    assert uuid7(unix_ms, rand) == str(value)


@given(st.integers(0, (1 << 47)), st.integers(1, 10_000), st.integers(0, (1 << 74) - 1), st.integers(0, (1 << 74) - 1))
def test_uuid7_sorts_by_time(unix_ms: int, later_by_ms: int, rand_a: int, rand_b: int) -> None:
    assert uuid7(unix_ms, rand_a) < uuid7(unix_ms + later_by_ms, rand_b)


def test_new_event_ids_are_unique_and_carry_the_time() -> None:
    ids = {new_event_id(NOW) for _ in range(1000)}
    assert len(ids) == 1000
    assert {uuid.UUID(i).int >> 80 for i in ids} == {int(NOW.timestamp() * 1000)}


@pytest.mark.parametrize(("type_text", "fields", "owner"), [
    ("dial-in", {"CalledExtension": "0003210", "CallFlow": "IN"}, "0003*210"),
    ("0", {"CalledExtension": "0003*210"}, "0003*210"),  # no CallFlow: dial-in is IN
    ("dial-out", {"CallerExtension": "0003211", "CalledExtension": "0003210", "CallFlow": "OUT"}, "0003*211"),
    ("4", {"CallerExtension": "0003211"}, "0003*211"),  # answer-out is OUT
    ("hangup", {"CallerExtension": "0003211", "CalledExtension": "0003210", "CallFlow": "IN"}, "0003*210"),
    ("hangup", {"CallerExtension": "0003211", "CalledExtension": "0003210", "CallFlow": "out"}, "0003*211"),
    ("answer-in", {"CalledExtension": "0003210", "extension": "0003*212"}, "0003*212"),  # explicit wins
    ("HANGUP", {"extension": "0003213"}, "0003*213"),
])
def test_the_owning_extension(type_text: str, fields: dict[str, str], owner: str) -> None:
    assert owning_extension(EventType.parse(type_text), fields) == owner


@pytest.mark.parametrize(("type_text", "fields", "status", "code"), [
    ("ringing", {"CalledExtension": "0003210"}, 404, "type_invalid"),
    ("7", {"CalledExtension": "0003210"}, 404, "type_invalid"),
    ("hangup", {"CalledExtension": "0003210"}, 400, "extension_missing"),  # no flow, no extension
    ("dial-in", {"CallFlow": "IN"}, 400, "extension_missing"),
    ("dial-in", {"CalledExtension": "12*34*5"}, 400, "extension_invalid"),
    ("dial-in", {"CalledExtension": "0003210", "CallFlow": "SIDEWAYS"}, 400, "callflow_invalid"),
    ("dial-in", {"CalledExtension": "0004210"}, 403, "forbidden"),  # another tenant's extension
    ("dial-in", {"CalledExtension": "0003210", "occurred_at": "yesterday"}, 400, "occurred_at_invalid"),
    ("dial-in", {"CalledExtension": "0003210", "occurred_at": "2026-11-27T10:00:00"}, 400, "occurred_at_invalid"),
    ("dial-in", {"CalledExtension": "0003210", "CallID": "x" * 2000}, 400, "schema_invalid"),
])
def test_notifications_that_are_refused(type_text: str, fields: dict[str, str], status: int, code: str) -> None:
    with pytest.raises(IngestRejected) as caught:
        event_from_notification("0003", type_text, fields, now=NOW, new_id=_new_id)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_a_notification_keeps_the_nine_parameters_exactly() -> None:
    fields = {"CallID": "1732701600.42", "CallerIDNum": "+61299990000", "CallerIDName": "ACME Pty",
              "CalledDID": "+61280001234", "CalledExtension": "0003210", "CallStatus": "CALLING", "CallFlow": "IN",
              "CallerExtension": "", "CalledNumber": "+61280001234", "key": "cik_secret", "Other": "x"}
    event = event_from_notification("0003", "dial-in", fields, now=NOW, new_id=_new_id)
    assert event.parameters == {k: v for k, v in fields.items() if k not in ("key", "Other")}
    assert (event.event_id, event.occurred_at, event.tenant, event.extension) == (FIXED_ID, NOW, "0003", "0003*210")
    assert event.type is EventType.DIAL_IN
    assert "key" not in event.model_dump()


@pytest.mark.parametrize(("text", "expected"), [
    ("", NOW),
    ("1795773600", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
    ("1795773600.5", datetime(2026, 11, 27, 10, 0, 0, 500000, tzinfo=UTC)),
    ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
    ("2026-11-27T12:00:00+02:00", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
])
def test_occurred_at_forms(text: str, expected: datetime) -> None:
    assert parse_occurred_at(text, now=NOW) == expected


@pytest.mark.parametrize(("value", "text"), [("+61 2", "+61 2"), (1001, "1001"), (1795773600.42, "1795773600.42"),
                                            (-0.5, "-0.5"), (None, "")])
def test_a_json_value_as_parameter_text(value: object, text: str) -> None:
    assert parameter_text(value) == text


@pytest.mark.parametrize("value", [True, False, {"n": 1}, [1]])
def test_json_values_that_are_no_parameter(value: object) -> None:
    with pytest.raises(ValueError):
        parameter_text(value)


def test_a_json_event_defaults_tenant_id_and_time_and_refuses_another_tenant() -> None:
    event = event_from_json("0003", {"type": "hangup", "extension": "0003*210"}, now=NOW, new_id=_new_id)
    assert (event.tenant, event.event_id, event.occurred_at) == ("0003", FIXED_ID, NOW)
    with pytest.raises(IngestRejected) as caught:
        event_from_json("0003", {"type": "hangup", "extension": "0004*210"}, now=NOW, new_id=_new_id)
    assert caught.value.code == "forbidden"
    with pytest.raises(IngestRejected) as caught:
        event_from_json("0003", ["not", "an", "object"], now=NOW, new_id=_new_id)
    assert caught.value.code == "schema_invalid"


@pytest.mark.parametrize(("authorization", "key", "expected"), [
    ("Bearer abc", None, "abc"),
    ("bearer  abc ", None, "abc"),
    (None, "cik_x", "cik_x"),
])
def test_credentials(authorization: str | None, key: str | None, expected: str) -> None:
    assert credential(authorization, key) == expected


@pytest.mark.parametrize(("authorization", "key"), [("Bearer abc", "cik_x"), ("Bearer abc", ""), ("", "cik_x")])
def test_a_header_and_a_key_together_are_invalid_request(authorization: str, key: str) -> None:
    with pytest.raises(IngestRejected) as caught:
        credential(authorization, key)
    assert (caught.value.status, caught.value.code) == (400, "invalid_request")


@pytest.mark.parametrize(("authorization", "key"), [(None, None), ("Basic dXNlcjpwdw==", None), ("Bearer ", None)])
def test_missing_or_malformed_credentials(authorization: str | None, key: str | None) -> None:
    with pytest.raises(IngestRejected) as caught:
        credential(authorization, key)
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")


@pytest.mark.parametrize(("ttl_s", "expires_at", "asked_at", "hit"), [
    (30, float("inf"), 100.0, True),
    (30, float("inf"), 129.9, True),
    (30, float("inf"), 130.0, False),  # the cache's own TTL
    (30, 110.0, 109.0, True),
    (30, 110.0, 110.0, False),  # the token's expiry comes first
    (0, float("inf"), 100.0, False),  # caching off
])
def test_the_grant_cache(ttl_s: float, expires_at: float, asked_at: float, hit: bool) -> None:
    cache = GrantCache(ttl_s)
    cache.remember((b"h", "0003"), 100.0, expires_at)
    assert cache.hit((b"h", "0003"), asked_at) is hit
    assert cache.hit((b"h", "0004"), 100.0) is False


def test_the_grant_cache_stays_bounded() -> None:
    cache = GrantCache(30, max_entries=10)
    for i in range(25):
        cache.remember((bytes([i]), "t"), 100.0, float("inf"))
    assert len(cache._until) <= 10
    assert cache.hit((bytes([24]), "t"), 101.0)


def test_the_sdk_validates_dicts_and_keys_by_canonical_extension() -> None:
    event = to_event({"event_id": "e1", "type": 2, "occurred_at": "2026-11-27T10:00:00Z", "extension": "0003210"})
    key, value = to_record(event)
    assert key == b"0003*210"
    assert b'"type":"hangup"' in value and b'"tenant":"0003"' in value
    with pytest.raises(InvalidEvent) as caught:
        to_event({"event_id": "e1", "type": "ringing", "occurred_at": NOW, "extension": "0003*210"})
    assert caught.value.code == "schema_invalid" and "type" in caught.value.detail
    with pytest.raises(InvalidEvent) as caught:
        to_record(event.model_copy(update={"CallerIDName": "x" * 900}), max_bytes=1024)
    assert caught.value.code == "too_large"
    with pytest.raises(InvalidEvent):
        to_event("not a mapping")  # type: ignore[arg-type]


@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_with_no_utc_equivalent_is_an_invalid_event(occurred_at: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        to_event({"event_id": "e1", "type": 0, "occurred_at": occurred_at, "extension": "0003*210"})
    assert caught.value.code == "schema_invalid" and "occurred_at" in caught.value.detail


@pytest.mark.parametrize(("steps", "now_s", "expected"), [
    ([], 0.0, None),  # nothing known yet: ask Kafka
    ([("record", True, 10.0)], 14.9, True),  # fresh: no round trip
    ([("record", True, 10.0)], 15.0, None),  # stale: ask again
    ([("record", False, 10.0)], 12.0, False),  # unreachable stays the answer while fresh
    ([("record", True, 10.0), ("void", None, 11.0)], 11.0, None),  # a failed send: ask again at once
    ([("record", False, 10.0), ("record", True, 11.0)], 12.0, True),  # an acknowledged send proves reachable
])
def test_readiness_verdict_answers_while_fresh_and_is_voided_by_a_failed_send(
    steps: list[tuple[str, bool | None, float]], now_s: float, expected: bool | None,
) -> None:
    verdict = Verdict(fresh_s=5.0)
    for action, reachable, at_s in steps:
        if action == "record":
            assert reachable is not None
            verdict.record(reachable, at_s)
        else:
            verdict.void()
    assert verdict.current(now_s) is expected


@given(st.booleans(), st.floats(0, 1e6), st.floats(0, 1e3), st.floats(0, 1e3), st.floats(0.001, 60))
def test_readiness_verdict_answers_from_its_recording_until_fresh_s_and_never_after(
    reachable: bool, at_s: float, age_a_s: float, age_b_s: float, fresh_s: float,
) -> None:
    verdict = Verdict(fresh_s=fresh_s)
    verdict.record(reachable, at_s)
    assert verdict.current(at_s) is reachable
    assert verdict.current(at_s + fresh_s + age_a_s) is None
    younger_s, older_s = sorted((age_a_s, age_b_s))
    if verdict.current(at_s + older_s) is not None:  # still fresh when older: fresh when younger too
        assert verdict.current(at_s + younger_s) is reachable


@given(st.binary(max_size=64))
def test_parameter_bytes_always_read_as_text_utf8_first_else_one_character_per_byte(raw: bytes) -> None:
    text, fell_back = text_of(raw)
    if fell_back:
        assert len(text) == len(raw) and "\ufffd" not in text
        assert all(WINDOWS_1252.index(char) == byte for char, byte in zip(text, raw, strict=True))
    else:
        assert text.encode() == raw


def test_form_pairs_split_as_parse_qsl_does() -> None:
    assert [(d.name, d.value, d.fallback) for d in decode_form(b"a=1&&b&=c&d=x=y&e=%zz+%2B&M%FC=%FC&n=%00")] == [
        ("a", "1", False), ("b", "", False), ("", "c", False), ("d", "x=y", False), ("e", "%zz +", False),
        ("Mü", "ü", True), ("n", "\x00", False)]


FORM_PIECES = [b"%", b"+", b"&", b"=", b"a", b"C3", b"%C3%BC", b"%FC", b"%zz", b"%2", b"\xc3\xbc", b"\xfc", b"#", b"?",
               b" ", b"%00", b"\x00", b"%EF%BF%BD", b"\xef\xbf\xbd", b"%2B", b"%26", b"%3D", b";", b"\n", b"%e2%82",
               b"%AC", b"%F0%9F%98%80", b"%ED%A0%80", b"%C0%80"]


@given(st.lists(st.sampled_from(FORM_PIECES), max_size=16).map(b"".join))
def test_the_utf8_form_reading_gives_decode_forms_pairs_or_leaves_the_form_to_it(encoded: bytes) -> None:
    pairs = utf8_form(encoded)
    decoded = decode_form(encoded)
    if pairs is not None:
        assert pairs == [(d.name, d.value) for d in decoded] and not any(d.fallback for d in decoded)
    elif "\ufffd" not in "".join(d.name + d.value for d in decoded):  # one sending U+FFFD is left to decode_form
        assert any(d.fallback for d in decoded)


def test_the_utf8_form_reading_takes_the_usual_form_and_leaves_bytes_not_utf8() -> None:
    assert utf8_form(b"a=1&&b&=c&d=x=y&e=%zz+%2B&n=%00&M%C3%BC=%E2%82%AC") == [
        ("a", "1"), ("b", ""), ("", "c"), ("d", "x=y"), ("e", "%zz +"), ("n", "\x00"), ("Mü", "€")]
    assert utf8_form(b"CallerIDName=M%FCller") is None
    assert utf8_form(b"CallerIDName=M\xfcller") is None
