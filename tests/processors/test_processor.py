"""The processor as a real subprocess against the real broker: the join, no-match, types, DLQ, config changes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from schemas.events import EventType
from schemas.jobs import job_id_for
from schemas.requests import HttpMethod
from schemas.settings import Settings
from tests.kafka import produce, read_topic_sync
from tests.processors.support import (
    call_event,
    produce_config,
    produce_events,
    read_jobs,
    request,
)
from tests.services import Service

A, B, C, D, E = "0101*100", "0101*200", "0101*300", "0101*400", "0101*500"
SECRET = "whsec_" + "A" * 32

CONFIG = {
    A: [
        request(A, "rA1", method=HttpMethod.POST, url="http://127.0.0.1:9/post?x=1", secrets=(SECRET,)),
        request(A, "rA2", method=HttpMethod.GET, url="http://127.0.0.1:9/get"),
        request(A, "rA3", enabled=False),
        request(A, "rA4", EventType.HANGUP),
    ],
    B: [],
    C: [request(C, f"rC{t.value}", t) for t in EventType],
    E: [request(E, "rE1"), request(E, "rE2")],
}
NO_MATCH = 'callapi_processor_events_total{result="no_match"}'
DLQ = 'callapi_processor_events_total{result="dlq"}'
REKEYED = 'callapi_processor_events_total{result="rekeyed"}'
CONFIG_SET = 'callapi_processor_config_records_total{result="set"}'
CONFIG_REMOVED = 'callapi_processor_config_records_total{result="removed"}'


@pytest.fixture(scope="module")
def processor(settings: Settings) -> Iterator[Service]:
    produce_config(settings, CONFIG)
    with Service(settings, "processor") as running:
        running.wait_metric(CONFIG_SET, 3)  # A, C and E; B has no enabled request
        yield running


def test_two_enabled_requests_yield_exactly_two_jobs_with_their_content(
    settings: Settings, processor: Service,
) -> None:
    event = call_event(A, EventType.DIAL_IN)
    produce_events(settings, [event])

    jobs = read_jobs(settings, lambda js: any(j.event_id == event.event_id for j in js), settle_s=3)
    mine = sorted((j for j in jobs if j.event_id == event.event_id), key=lambda j: j.request_id)

    assert [j.request_id for j in mine] == ["rA1", "rA2"]
    post, get = mine
    assert post.job_id == job_id_for(event.event_id, "rA1") and get.job_id == job_id_for(event.event_id, "rA2")
    assert (post.method, post.url, post.signing_secrets) == (HttpMethod.POST, "http://127.0.0.1:9/post?x=1", (SECRET,))
    assert (get.method, get.url, get.signing_secrets) == (HttpMethod.GET, "http://127.0.0.1:9/get", ())
    for job in mine:
        assert job.params == event.parameters
        assert (job.extension, job.tenant, job.event_type) == (A, "0101", EventType.DIAL_IN)
        assert job.occurred_at == event.occurred_at and job.processed_at >= event.occurred_at
        assert job.replay is False and job.attempt == 0
    assert post.sequence == get.sequence


def test_events_without_enabled_requests_yield_nothing_and_are_counted(
    settings: Settings, processor: Service,
) -> None:
    before = processor.metric(NO_MATCH)
    events = [call_event(B), call_event(D), call_event(A, EventType.ANSWER_IN)]
    produce_events(settings, events)

    processor.wait_metric(NO_MATCH, before + 3)
    jobs = read_jobs(settings, lambda js: True, settle_s=2)
    assert not {j.event_id for j in jobs} & {e.event_id for e in events}


def test_each_type_matches_only_its_own_requests(settings: Settings, processor: Service) -> None:
    events = {t: call_event(C, t) for t in EventType}
    produce_events(settings, events.values())
    ids = {e.event_id for e in events.values()}

    jobs = read_jobs(settings, lambda js: len({j.event_id for j in js} & ids) == 5, settle_s=3)
    mine = [j for j in jobs if j.event_id in ids]

    assert sorted((j.event_type, j.request_id) for j in mine) == [(t, f"rC{t.value}") for t in EventType]


def test_bad_records_go_to_the_dlq_with_their_reason_and_the_next_event_is_processed(
    settings: Settings, processor: Service,
) -> None:
    good = call_event(A)
    too_large = call_event(A).model_copy(update={"CallerIDName": "x"}).model_dump_json().replace(
        '"x"', '"' + "y" * 1000 + '"'
    ).encode()[:-1] + b', "padding": "' + b"p" * settings.max_event_bytes + b'"}'
    wrong_key = call_event(C).model_dump_json().encode()
    bad = [
        (A, b"not json at all"),
        (A, b'{"type": "dial-in", "extension": "0101*100"}'),
        (A, too_large),
        (A, wrong_key),
    ]
    before = processor.metric(DLQ)
    asyncio.run(produce(settings, settings.topics.call_events, [*bad, (A, good.model_dump_json().encode())]))

    read_jobs(settings, lambda js: any(j.event_id == good.event_id for j in js))
    letters = read_topic_sync(settings, settings.topics.call_events_dlq, count=len(bad))
    assert processor.metric(DLQ) == before + len(bad)

    by_value = {r.value: r for r in letters}
    reasons = {value: dict(by_value[value].headers)["error"] for _, value in bad}
    assert list(reasons.values()) == [b"invalid_json", b"schema_invalid", b"too_large", b"key_mismatch"]
    for key, value in bad:
        letter = by_value[value]
        headers = dict(letter.headers)
        assert letter.key == key.encode()
        assert headers["original-topic"] == settings.topics.call_events.encode()
        assert int(headers["original-partition"]) >= 0 and int(headers["original-offset"]) >= 0
        assert headers["error-detail"]
    assert b"event_id" in dict(by_value[bad[1][1]].headers)["error-detail"]


def test_config_changes_take_effect_for_later_events(settings: Settings, processor: Service) -> None:
    first = call_event(E)
    produce_events(settings, [first])
    read_jobs(settings, lambda js: sum(j.event_id == first.event_id for j in js) == 2)

    sets = processor.metric(CONFIG_SET)
    produce_config(settings, {E: [request(E, "rE1", enabled=False), request(E, "rE3")]})  # rE2 removed
    processor.wait_metric(CONFIG_SET, sets + 1)
    second = call_event(E)
    produce_events(settings, [second])
    jobs = read_jobs(settings, lambda js: any(j.event_id == second.event_id for j in js), settle_s=3)
    assert [j.request_id for j in jobs if j.event_id == second.event_id] == ["rE3"]

    removed = processor.metric(CONFIG_REMOVED)
    produce_config(settings, {E: []})
    processor.wait_metric(CONFIG_REMOVED, removed + 1)
    before = processor.metric(NO_MATCH)
    third = call_event(E)
    produce_events(settings, [third])
    processor.wait_metric(NO_MATCH, before + 1)


def test_events_keyed_by_the_extended_form_or_not_at_all_are_put_back_under_the_canonical_key_and_joined(
    settings: Settings, processor: Service,
) -> None:
    extended, keyless = call_event(A), call_event(A)
    extended_value = extended.model_dump_json().replace(A, A.replace("*", "")).encode()  # 0101100 everywhere
    before = processor.metric(REKEYED)
    asyncio.run(produce(settings, settings.topics.call_events,
                        [(A.replace("*", ""), extended_value), (None, keyless.model_dump_json().encode())]))

    ids = {extended.event_id, keyless.event_id}
    jobs = read_jobs(settings, lambda js: len([j for j in js if j.event_id in ids]) >= 4, settle_s=2)
    mine = sorted((j.event_id, j.request_id, j.extension) for j in jobs if j.event_id in ids)
    assert mine == sorted((e, r, A) for e in ids for r in ("rA1", "rA2"))  # each once, canonical
    assert processor.metric(REKEYED) == before + 2
    put_back = [r for r in read_topic_sync(settings, settings.topics.call_events)
                if r.value in (extended_value, keyless.model_dump_json().encode()) and r.key == A.encode()]
    assert len(put_back) == 2
    assert all(r.headers == (("partitions", str(settings.partitions).encode()),) for r in put_back)  # as the SDK
