"""A warning that may come on every request: logged at most once per interval, with how many were held back."""

from __future__ import annotations

from schemas.occasional_log import Occasionally


def test_the_first_occurrence_is_logged_then_at_most_one_an_interval_with_the_count_held_back() -> None:
    occasionally = Occasionally(interval_s=60.0)
    assert [occasionally.due(now) for now in (100.0, 101.0, 159.9, 160.0, 161.0, 219.0, 300.0)] == [
        0, None, None, 2, None, None, 2]


def test_after_a_quiet_interval_the_next_occurrence_is_logged_at_once_with_none_held() -> None:
    occasionally = Occasionally(interval_s=60.0)
    assert [occasionally.due(now) for now in (0.0, 1000.0, 1001.0, 2000.0)] == [0, 0, None, 1]
