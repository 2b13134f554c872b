"""The simulator's scenario generator: pure, reproducible, and every call tells a consistent story."""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.simulator import generator
from producers.simulator.generator import Plan, Timeline
from producers.simulator.population import build_population
from producers.simulator.runner import planned_events
from producers.simulator.scenarios import Scheduled
from schemas.events import CallEvent, EventType
from schemas.extensions import canonical_extension

START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
EXTENDED = re.compile(r"^\d{5,}$")


def take(plan: Plan, count: int, start: datetime = START) -> list[CallEvent]:
    return list(itertools.islice(Timeline(plan).events(start=start), count))


plans = st.builds(
    Plan, seed=st.integers(0, 10_000), organizations=st.integers(1, 6), extensions=st.integers(1, 6),
    rate_eps=st.sampled_from([5.0, 50.0, 500.0]), answered_ratio=st.sampled_from([0.0, 0.5, 1.0]),
    warmup_s=st.sampled_from([0.0, 60.0]),
)


def test_the_same_seed_and_start_give_the_same_events_ids_included() -> None:
    plan = Plan(seed=42, organizations=4, extensions=5)
    first, second = take(plan, 300), take(plan, 300)
    assert [e.model_dump() for e in first] == [e.model_dump() for e in second]
    other = take(Plan(seed=43, organizations=4, extensions=5), 300)
    assert {e.event_id for e in first}.isdisjoint(e.event_id for e in other)


def test_a_later_start_shifts_the_times_and_keeps_the_calls() -> None:
    plan = Plan(seed=42, organizations=4, extensions=5)
    early, late = take(plan, 100), take(plan, 100, START + timedelta(hours=1))
    assert [e.occurred_at + timedelta(hours=1) for e in early] == [e.occurred_at for e in late]
    assert [(e.type, e.extension) for e in early] == [(e.type, e.extension) for e in late]


@settings(max_examples=40, deadline=None)
@given(plans)
def test_events_are_time_ordered_valid_and_owned_by_their_tenant(plan: Plan) -> None:
    stream = take(plan, 200)
    assert len(stream) == 200
    assert all(a.occurred_at <= b.occurred_at for a, b in itertools.pairwise(stream))
    assert stream[0].occurred_at >= START
    codes = {f"{plan.tenant_base + i:04d}" for i in range(plan.organizations)}
    for event in stream:
        assert event.tenant in codes and event.extension.startswith(event.tenant + "*")
        assert len(event.event_id) == 36 and event.event_id[14] == "7"
    assert len({e.event_id for e in stream}) == 200


@settings(max_examples=40, deadline=None)
@given(plans)
def test_parameters_follow_voipnow(plan: Plan) -> None:
    for event in take(plan, 200):
        expected_status = {EventType.DIAL_IN: {"CALLING"}, EventType.DIAL_OUT: {"CALLING"},
                           EventType.ANSWER_IN: {"ANSWER"}, EventType.ANSWER_OUT: {"ANSWER"},
                           EventType.HANGUP: {"ANSWER", "UNKNOWN"}}[event.type]
        assert event.CallStatus in expected_status
        assert event.CallFlow in ("IN", "OUT")
        if event.type in (EventType.DIAL_IN, EventType.ANSWER_IN):
            assert event.CallFlow == "IN"
        if event.type in (EventType.DIAL_OUT, EventType.ANSWER_OUT):
            assert event.CallFlow == "OUT"
        owner = event.CalledExtension if event.CallFlow == "IN" else event.CallerExtension
        assert EXTENDED.match(owner) and canonical_extension(owner) == event.extension
        for number in (event.CalledDID, event.CalledNumber, event.CallerIDNum):
            assert number == "" or E164.match(number) or EXTENDED.match(number)
        assert re.match(r"^\d{10}\.\d+$", event.CallID)


def _calls(stream: list[CallEvent]) -> dict[str, list[CallEvent]]:
    calls: dict[str, list[CallEvent]] = defaultdict(list)
    for event in stream:
        calls[event.CallID].append(event)
    return calls


@settings(max_examples=20, deadline=None)
@given(plans)
def test_complete_calls_have_the_events_of_their_scenario(plan: Plan) -> None:
    """With no warm-up, every call whose last event is in the window is complete."""
    plan = Plan(**{**plan.__dict__, "warmup_s": 0.0})
    stream = take(plan, 400)
    for call_id, call in _calls(stream).items():
        hangups = [e for e in call if e.type is EventType.HANGUP]
        if len(hangups) < len({e.extension for e in call}):
            continue  # still in progress at the end of the window
        kinds = Counter(e.type.slug for e in call)
        answered = hangups[0].CallStatus == "ANSWER"
        assert {e.CallStatus for e in hangups} == {"ANSWER" if answered else "UNKNOWN"}, call_id
        if len({e.extension for e in call}) == 2:  # internal: both sides, one CallID
            expected = {"dial-out": 1, "dial-in": 1, "hangup": 2} | (
                {"answer-out": 1, "answer-in": 1} if answered else {})
            assert {e.tenant for e in call} == {call[0].tenant}
            assert call[0].CallerExtension != call[0].CalledExtension
        elif call[0].CallFlow == "IN":  # inbound from outside
            expected = {"dial-in": 1, "hangup": 1} | ({"answer-in": 1} if answered else {})
            assert E164.match(call[0].CallerIDNum) and call[0].CalledDID == call[0].CalledNumber != ""
        else:  # outbound to outside
            expected = {"dial-out": 1, "hangup": 1} | ({"answer-out": 1} if answered else {})
            assert E164.match(call[0].CalledNumber) and call[0].CalledExtension == ""
        assert dict(kinds) == expected, call_id


def test_the_mix_has_every_scenario_and_outcome() -> None:
    calls = _calls(take(Plan(seed=7, organizations=3, extensions=5, warmup_s=0.0), 3000))
    sizes = Counter(len(call) for call in calls.values())
    assert {2, 3, 4, 6} <= set(sizes)  # unanswered/answered external, unanswered/answered internal


def test_a_few_tenants_are_busy() -> None:
    per_tenant = Counter(e.tenant for e in take(Plan(seed=3, organizations=20, extensions=5), 5000))
    ranked = [count for _, count in per_tenant.most_common()]
    assert per_tenant["0001"] == ranked[0]
    assert sum(ranked[:4]) > sum(ranked[4:])  # Zipf: the top fifth does most of the traffic


def test_the_event_rate_is_about_the_target() -> None:
    stream = take(Plan(seed=5, organizations=10, extensions=10, rate_eps=200.0), 6000)
    span_s = (stream[-1].occurred_at - START).total_seconds()
    assert 6000 / span_s == pytest.approx(200.0, rel=0.1)


def test_a_run_is_cut_by_count_or_by_duration() -> None:
    plan = Plan(seed=9, rate_eps=50.0)
    assert len(list(planned_events(plan, start=START, count=123))) == 123
    timed = list(planned_events(plan, start=START, duration_s=5.0))
    assert timed and all(e.occurred_at < START + timedelta(seconds=5) for e in timed)
    assert len(list(planned_events(plan, start=START, count=10, duration_s=5.0))) == 10


def test_the_population_is_deterministic_and_well_formed() -> None:
    population = build_population(seed=1, organizations=3, extensions=4, tenant_base=7)
    assert population == build_population(seed=1, organizations=3, extensions=4, tenant_base=7)
    assert [t.code for t in population.tenants] == ["0007", "0008", "0009"]
    assert [e.number for e in population.tenants[0].extensions] == ["0007*201", "0007*202", "0007*203", "0007*204"]
    assert population.tenants[0].extensions[0].extended == "0007201"
    assert all(E164.match(e.did) for e in population.extensions)
    assert len({e.did for e in population.extensions}) == 12


def test_a_timeline_simulates_its_warm_up_before_the_start_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """At thousands of events/s the warm-up takes seconds: a run makes its Timeline before it takes its start, so
    none of that work is left for its first event."""
    made: list[float] = []
    real_call = generator._call

    def counted_call(*args: Any) -> list[Scheduled]:
        made.append(args[-1])
        return real_call(*args)

    monkeypatch.setattr(generator, "_call", counted_call)
    plan = Plan(seed=3, rate_eps=200.0, warmup_s=60.0)
    timeline = Timeline(plan)
    warm_up = len(made)
    assert warm_up > 60 * 200 / plan.mean_events_per_call() * 0.8
    first = next(timeline.events(start=START))
    assert len(made) - warm_up <= 1
    assert first.model_dump() == take(plan, 1)[0].model_dump()


def test_call_ids_are_dated_from_the_start_given_later() -> None:
    plan = Plan(seed=4, rate_eps=50.0)
    early, late = take(plan, 100), take(plan, 100, start=START + timedelta(seconds=1000))
    seconds = [(int(a.CallID.split(".")[0]), int(b.CallID.split(".")[0])) for a, b in zip(early, late, strict=True)]
    assert all(b - a == 1000 for a, b in seconds)
    assert any(a < START.timestamp() for a, _ in seconds)  # calls begun in the warm-up


def test_warm_up_calls_over_before_the_start_are_not_built_and_the_events_stay_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = Plan(seed=5, rate_eps=500.0, warmup_s=60.0)
    shortcut = take(plan, 3000)
    monkeypatch.setattr(generator, "DIAL_GAP_S", 1e9)  # no call counts as over before the start: all are built
    every_call_built = take(plan, 3000)
    assert [e.model_dump() for e in shortcut] == [e.model_dump() for e in every_call_built]
    dialled = {e.CallID for e in shortcut if e.type in (EventType.DIAL_IN, EventType.DIAL_OUT)}
    assert any(e.CallID not in dialled for e in shortcut if e.type is EventType.HANGUP)  # calls already in progress
