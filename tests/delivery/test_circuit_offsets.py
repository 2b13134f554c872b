"""The circuit breaker and the offset tracker: pure state machines driven by tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delivery.circuit import Circuit, Circuits, State
from delivery.hosts import destination_key
from schemas.offsets import OffsetTracker


def run(steps: list[tuple[str, float]]) -> list[object]:
    """Apply ('allow'|'ok'|'fail'|'release', now_s) steps; collect allow() answers and the final state."""
    circuit = Circuit(failure_threshold=3, open_s=10.0)
    answers: list[object] = []
    for step, now_s in steps:
        if step == "allow":
            answers.append(circuit.allow(now_s))
        elif step == "ok":
            circuit.record_success()
        elif step == "fail":
            circuit.record_failure(now_s)
        else:
            circuit.release_probe(now_s)
    return [*answers, circuit.state]


@pytest.mark.parametrize(("steps", "expected"), [
    ([("fail", 0), ("fail", 1), ("allow", 2)], [True, State.CLOSED]),
    ([("fail", 0), ("fail", 1), ("fail", 2), ("allow", 3)], [False, State.OPEN]),
    ([("fail", 0), ("fail", 1), ("ok", 1), ("fail", 2), ("fail", 3), ("allow", 4)], [True, State.CLOSED]),
    ([("fail", 0), ("fail", 0), ("fail", 0), ("allow", 9.9), ("allow", 10)], [False, True, State.HALF_OPEN]),
    ([("fail", 0)] * 3 + [("allow", 10), ("allow", 10)], [True, False, State.HALF_OPEN]),  # one probe only
    ([("fail", 0)] * 3 + [("allow", 10), ("ok", 11), ("allow", 11)], [True, True, State.CLOSED]),
    ([("fail", 0)] * 3 + [("allow", 10), ("fail", 11), ("allow", 12), ("allow", 21)], [True, False, True,
                                                                                        State.HALF_OPEN]),
    ([("fail", 0)] * 3 + [("allow", 10), ("release", 12), ("allow", 12)], [True, True, State.HALF_OPEN]),
])
def test_circuit(steps: list[tuple[str, float]], expected: list[object]) -> None:
    assert run(steps) == expected


@pytest.mark.parametrize(("steps", "now_s", "remaining_s"), [
    ([], 0.0, 0.0),                                                  # closed
    ([("fail", 0)] * 3, 4.0, 6.0),
    ([("fail", 0)] * 3, 12.0, 0.0),                                  # the window passed (not yet probed)
    ([("fail", 0)] * 3 + [("allow", 10)], 11.0, 0.0),                # half-open: the probe is out
    ([("fail", 0)] * 3 + [("allow", 10), ("fail", 11)], 12.0, 9.0),  # the probe failed: a new window
])
def test_remaining_open_time(steps: list[tuple[str, float]], now_s: float, remaining_s: float) -> None:
    circuit = Circuit(failure_threshold=3, open_s=10.0)
    for step, at_s in steps:
        if step == "allow":
            circuit.allow(at_s)
        else:
            circuit.record_failure(at_s)
    assert circuit.remaining_open_s(now_s) == remaining_s


def test_circuits_count_open_and_forget_healthy() -> None:
    circuits = Circuits(failure_threshold=1, open_s=5)
    circuits.get("a", now_s=0).record_failure(0)
    circuits.get("b", now_s=0).record_success()
    assert circuits.open_count(now_s=1) == 1
    circuits.forget_closed()
    assert circuits.get("a", now_s=1).state is State.OPEN


def test_an_open_circuit_no_job_asks_about_any_more_is_not_counted() -> None:
    circuits = Circuits(failure_threshold=1, open_s=5)
    circuits.get("gone", now_s=0).record_failure(0)  # its last job was dead-lettered: nothing asks again
    circuits.get("busy", now_s=0).record_failure(0)
    for now_s in range(5, 60, 5):
        circuits.get("busy", now_s=now_s)  # its jobs come back about once a window
    assert circuits.open_count(now_s=49) == 2
    assert circuits.open_count(now_s=55) == 1
    assert circuits.get("gone", now_s=55).state is State.OPEN  # still open when a job asks again
    assert circuits.open_count(now_s=55) == 2


def test_the_circuits_kept_are_bounded_when_every_destination_fails() -> None:
    """Only open circuits: the least recently asked about are forgotten (their next job probes again)."""
    circuits = Circuits(failure_threshold=1, open_s=5, max_tracked=10)
    for n in range(100):
        circuits.get(f"host{n}", now_s=n).record_failure(n)
        assert len(circuits) <= 10
    assert circuits.get("host99", now_s=100).state is State.OPEN  # the most recent ones are kept
    assert circuits.get("host0", now_s=100).state is State.CLOSED  # a forgotten one starts afresh


@pytest.mark.parametrize(("url", "key"), [
    ("http://Example.com/x", "http://example.com:80"),
    ("https://example.com/x?y", "https://example.com:443"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
])
def test_destination_key(url: str, key: str) -> None:
    assert destination_key(url) == key


@pytest.mark.parametrize(("started", "finished", "committable"), [
    ([], [], None),
    ([5], [], 5),
    ([5, 6, 7], [5], 6),
    ([5, 6, 7], [6, 7], 5),            # a slow job holds the commit back
    ([5, 6, 7], [5, 6, 7], 8),
    ([5, 6, 9], [5, 6, 9], 10),        # gaps (compaction, control records) are fine
    ([5, 6, 9], [9, 5], 6),
])
def test_offset_tracker(started: list[int], finished: list[int], committable: int | None) -> None:
    tracker = OffsetTracker()
    for offset in started:
        tracker.start(offset)
    for offset in finished:
        tracker.finish(offset)
    assert tracker.committable() == committable


def test_offsets_must_start_in_order() -> None:
    tracker = OffsetTracker()
    tracker.start(5)
    with pytest.raises(ValueError, match="in order"):
        tracker.start(4)


def test_to_commit_reports_only_moves() -> None:
    tracker = OffsetTracker()
    tracker.start(1)
    tracker.finish(1)
    assert tracker.to_commit() == 2
    tracker.mark_committed(2)
    assert tracker.to_commit() is None


@given(st.permutations(list(range(20))), st.integers(0, 20))
def test_committable_never_passes_an_unfinished_job(order: list[int], done_count: int) -> None:
    tracker = OffsetTracker()
    for offset in range(20):
        tracker.start(offset)
    done = order[:done_count]
    for offset in done:
        tracker.finish(offset)
    unfinished = set(range(20)) - set(done)
    assert tracker.committable() == (min(unfinished) if unfinished else 20)
