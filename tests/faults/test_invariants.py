"""The invariant checker itself, on hand-made tables (pure: no services)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.events import CallEvent, EventType
from schemas.jobs import job_id_for
from schemas.requests import EventRequest, HttpMethod
from tests.faults.invariants import check, expected_job_ids

pytestmark = pytest.mark.faults

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def event(event_id: str, kind: EventType, extension: str = "0001*201") -> CallEvent:
    return CallEvent(event_id=event_id, type=kind, occurred_at=NOW, tenant="0001", extension=extension)


def request(request_id: str, kind: EventType, *, enabled: bool = True) -> EventRequest:
    return EventRequest(
        id=request_id, extension="0001*201", type=kind, method=HttpMethod.POST, url="http://x/", enabled=enabled,
        modified=NOW,
    )


CONFIG = {"0001*201": [request("A", EventType.DIAL_IN), request("B", EventType.DIAL_IN),
                       request("C", EventType.HANGUP, enabled=False)]}


def test_expected_jobs_are_the_enabled_matching_pairs() -> None:
    events = [event("e1", EventType.DIAL_IN), event("e2", EventType.HANGUP), event("e3", EventType.DIAL_IN, "0001*202")]
    assert expected_job_ids(events, CONFIG) == {job_id_for("e1", "A"), job_id_for("e1", "B")}


def test_lost_unexpected_and_duplicates_are_told_apart() -> None:
    owed = {"j1", "j2", "j3", "j4"}
    report = check(owed, ["j1", "j1", "j1", "j2", "zz"], dead_lettered_ids=["j3"])
    assert report.lost == {"j4"}
    assert report.unexpected == {"zz"}
    assert report.duplicates == 2
    assert (report.delivered, report.dead_lettered) == (2, 1)
    assert not report.ok


def test_all_delivered_or_dead_lettered_is_ok() -> None:
    report = check({"j1", "j2"}, ["j1", "j1"], ["j2"])
    assert report.ok
    assert "lost 0" in report.summary() and "duplicates 1" in report.summary()
