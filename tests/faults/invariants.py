"""The "nothing lost" invariant: every (event, matching enabled request) pair was delivered or
dead-lettered, nothing else was delivered, and duplicates are counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schemas.events import CallEvent
from schemas.jobs import job_id_for
from schemas.requests import EventRequest


def expected_job_ids(events: Iterable[CallEvent], config: Mapping[str, list[EventRequest]]) -> set[str]:
    """The job ids the pipeline owes: one per event and enabled request of its extension and type."""
    return {
        job_id_for(event.event_id, request.id)
        for event in events
        for request in config.get(event.extension, [])
        if request.enabled and request.type == event.type
    }


@dataclass(frozen=True)
class InvariantReport:
    expected: int
    delivered: int
    dead_lettered: int
    lost: frozenset[str]
    unexpected: frozenset[str]
    duplicates: int
    """Deliveries beyond the first of each webhook-id (at-least-once allows them; receivers dedupe)."""

    @property
    def ok(self) -> bool:
        return not self.lost and not self.unexpected

    def summary(self) -> str:
        return (
            f"expected {self.expected}, delivered {self.delivered}, dead-lettered {self.dead_lettered}, "
            f"lost {len(self.lost)}, unexpected {len(self.unexpected)}, duplicates {self.duplicates}"
        )


def check(expected: set[str], received_ids: Iterable[str], dead_lettered_ids: Iterable[str]) -> InvariantReport:
    """Compare what was owed with what the receivers saw (every arrival, repeats included) and the DLQ."""
    arrivals = Counter(received_ids)
    delivered = set(arrivals)
    dead = set(dead_lettered_ids)
    return InvariantReport(
        expected=len(expected),
        delivered=len(delivered & expected),
        dead_lettered=len((dead - delivered) & expected),
        lost=frozenset(expected - delivered - dead),
        unexpected=frozenset((delivered | dead) - expected),
        duplicates=sum(arrivals.values()) - len(arrivals),
    )
