"""The processor's own offset books (pure): in order, once per lane, never committing past an unfinished record."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.positions import Placement, Positions


def _lane(committed: int = 10, generation: int = 1) -> Positions:
    positions = Positions()
    positions.begin(0, generation=generation, committed=committed)
    return positions


@pytest.mark.parametrize(("offset", "placement"), [
    (9, Placement.DUPLICATE), (10, Placement.NEXT), (11, Placement.GAP), (500, Placement.GAP),
])
def test_an_offset_is_placed_against_the_lanes_next_one(offset: int, placement: Placement) -> None:
    assert _lane(committed=10).place(0, offset) is placement


def test_a_lane_commits_its_start_until_records_finish_then_the_lowest_unfinished() -> None:
    positions = _lane(committed=10)
    assert positions.committable(generation=1) == {0: 10}
    tickets = [positions.take(0, offset) for offset in (10, 11, 12)]
    assert positions.place(0, 11) is Placement.DUPLICATE
    positions.finish(tickets[2])
    positions.finish(tickets[1])
    assert positions.committable(generation=1) == {0: 10}  # 10 is not finished: nothing past it
    positions.finish(tickets[0])
    assert positions.committable(generation=1) == {0: 13}


def test_offsets_the_broker_showed_empty_are_stepped_over() -> None:
    positions = _lane(committed=10)
    ticket = positions.take(0, 14)  # 10 to 13 held no record
    assert positions.committable(generation=1) == {0: 14}
    positions.finish(ticket)
    assert positions.committable(generation=1) == {0: 15}


def test_a_taken_offset_cannot_be_taken_again() -> None:
    positions = _lane(committed=10)
    positions.take(0, 10)
    with pytest.raises(ValueError, match="in order"):
        positions.take(0, 10)


def test_acks_of_an_earlier_lane_do_not_count_in_the_next_one() -> None:
    positions = _lane(committed=10, generation=1)
    old = [positions.take(0, offset) for offset in (10, 11, 12)]
    positions.begin(0, generation=2, committed=10)  # a rebalance: the group's offset is still 10
    assert positions.begun(0, generation=2) and not positions.begun(0, generation=1)
    fresh = positions.take(0, 10)
    for ticket in old:
        positions.finish(ticket)
    assert positions.committable(generation=2) == {0: 10}
    positions.finish(fresh)
    assert positions.committable(generation=2) == {0: 11}


def test_only_the_current_generations_lanes_are_committed() -> None:
    positions = _lane(committed=10, generation=1)
    positions.begin(1, generation=2, committed=30)
    assert positions.committable(generation=2) == {1: 30}
    assert positions.committable(generation=3) == {}


@given(st.integers(0, 1000), st.lists(st.integers(1, 3), min_size=1, max_size=30), st.randoms())
def test_a_commit_never_passes_an_unfinished_record(committed: int, steps: list[int], random: object) -> None:
    positions = _lane(committed=committed)
    offset, tickets = committed, []
    for step in steps:  # records with gaps of empty offsets between them
        offset += step - 1
        tickets.append(positions.take(0, offset))
        offset += 1
    random.shuffle(tickets)  # type: ignore[attr-defined]
    for done, ticket in enumerate(tickets, start=1):
        positions.finish(ticket)
        unfinished = [t.offset for t in tickets[done:]]
        expected = min(unfinished) if unfinished else offset
        assert positions.committable(generation=1) == {0: expected}
