"""The pure join and the compact table form: tables and properties, no Kafka."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import EventType
from schemas.jobs import job_id_for
from schemas.join import join, pack_requests, unpack_requests
from schemas.requests import EventRequest, HttpMethod
from tests.processors.support import call_event, request

EXT = "0003*210"
LATER = datetime(2026, 11, 27, 10, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("requests", "event_type", "expected_ids"),
    [
        ([], EventType.DIAL_IN, []),
        ([request(EXT, "a")], EventType.DIAL_IN, ["a"]),
        ([request(EXT, "a")], EventType.HANGUP, []),
        ([request(EXT, "a", enabled=False)], EventType.DIAL_IN, []),
        ([request(EXT, "a"), request(EXT, "b", method=HttpMethod.GET), request(EXT, "c", enabled=False)],
         EventType.DIAL_IN, ["a", "b"]),
        ([request(EXT, f"r{t.value}", t) for t in EventType], EventType.ANSWER_OUT, ["r4"]),
        ([request(EXT, "a", EventType.DIAL_OUT), request(EXT, "b", EventType.DIAL_OUT)], EventType.DIAL_OUT,
         ["a", "b"]),
    ],
)
def test_join_yields_one_job_per_enabled_request_of_the_event_type(
    requests: list[EventRequest], event_type: EventType, expected_ids: list[str],
) -> None:
    event = call_event(EXT, event_type)
    assert [j.request_id for j in join(event, requests, sequence=7, processed_at=LATER)] == expected_ids


def test_a_job_carries_everything_the_delivery_needs() -> None:
    event = call_event(EXT, EventType.HANGUP)
    req = request(EXT, "abc", EventType.HANGUP, method=HttpMethod.GET, url="https://x.test/h?a=1",
                  secrets=("whsec_new", "whsec_old"))
    [job] = join(event, [req], sequence=42, processed_at=LATER, replay=True)
    assert job.job_id == job_id_for(event.event_id, "abc")
    assert (job.event_id, job.event_type, job.tenant, job.extension) == (
        event.event_id, EventType.HANGUP, "0003", EXT)
    assert (job.method, job.url, job.signing_secrets) == (HttpMethod.GET, "https://x.test/h?a=1",
                                                          ("whsec_new", "whsec_old"))
    assert job.params == event.parameters and list(job.params) == list(event.parameters)
    assert (job.sequence, job.occurred_at, job.processed_at, job.replay, job.attempt) == (
        42, event.occurred_at, LATER, True, 0)


def test_the_compact_form_keeps_only_enabled_requests() -> None:
    assert pack_requests([]) is None
    assert pack_requests([request(EXT, "a", enabled=False)]) is None
    assert unpack_requests(None) == []
    packed = pack_requests([request(EXT, "a", enabled=False), request(EXT, "b", secrets=("whsec_x",))])
    assert [(r.id, r.signing_secrets) for r in unpack_requests(packed)] == [("b", ("whsec_x",))]


_requests = st.lists(
    st.builds(
        request,
        st.just(EXT),
        st.text("abcdefXYZ0123456789", min_size=1, max_size=12),
        st.sampled_from(list(EventType)),
        method=st.sampled_from(list(HttpMethod)),
        enabled=st.booleans(),
        url=st.from_regex(r"https://[a-z]{1,10}\.test/[a-z0-9/?=&%-]{0,30}", fullmatch=True),
        secrets=st.lists(st.from_regex(r"whsec_[A-Za-z0-9+/]{8,20}", fullmatch=True), max_size=2).map(tuple),
    ),
    max_size=8,
)


@given(requests=_requests, event_type=st.sampled_from(list(EventType)), sequence=st.integers(0, 2**40))
def test_joining_the_compact_form_equals_joining_the_requests(
    requests: list[EventRequest], event_type: EventType, sequence: int,
) -> None:
    event = call_event(EXT, event_type, event_id="evt-1")
    direct = join(event, requests, sequence=sequence, processed_at=LATER)
    compact = join(event, unpack_requests(pack_requests(requests)), sequence=sequence, processed_at=LATER)
    assert compact == direct
    assert len(direct) == sum(1 for r in requests if r.enabled and r.type == event_type)
    assert all(j.job_id == job_id_for("evt-1", j.request_id) for j in direct)
