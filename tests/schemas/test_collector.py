"""The garbage collector as the delivery worker sets it for its process, and as simulate, demo and the
benchmarks' load set it for a sending run."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from schemas.collector import (
    DELIVERY_YOUNG_THRESHOLD,
    SENDING_YOUNG_THRESHOLD,
    collect_less_often,
    collecting_less_often,
)


@pytest.fixture
def collector_restored() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_measured_thresholds() -> None:
    assert (DELIVERY_YOUNG_THRESHOLD, SENDING_YOUNG_THRESHOLD) == (20_000, 50_000)


def test_a_process_collects_less_from_now_on_with_its_start_up_frozen(collector_restored: None) -> None:
    before = gc.get_threshold()
    start_up = [[index] for index in range(1000)]  # objects of the start-up, tracked by the collector
    collect_less_often(DELIVERY_YOUNG_THRESHOLD)
    assert gc.get_threshold() == (DELIVERY_YOUNG_THRESHOLD, *before[1:])
    assert gc.get_freeze_count() >= len(start_up)


def test_a_sending_run_collects_less_freezes_its_warm_up_and_restores_the_collector() -> None:
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    with collecting_less_often(SENDING_YOUNG_THRESHOLD) as warmed_up:
        assert gc.get_threshold() == (SENDING_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() == frozen_before  # nothing frozen before the warm-up exists
        warm_up = [[index] for index in range(1000)]  # long-lived objects of the run, tracked by the collector
        warmed_up()
        assert gc.get_freeze_count() >= frozen_before + len(warm_up)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)


def test_the_collector_is_restored_when_the_run_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), collecting_less_often(SENDING_YOUNG_THRESHOLD) as warmed_up:
        warmed_up()
        raise RuntimeError("Kafka went away")
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)
