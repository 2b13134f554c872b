"""The garbage collector as simulate, demo and the benchmarks' load set it for a sending run (its settings)."""

from __future__ import annotations

import gc

import pytest

from producers.simulator.collector import GC_YOUNG_THRESHOLD, sending_collector


def test_a_sending_run_collects_less_freezes_its_warm_up_and_restores_the_collector() -> None:
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    with sending_collector() as warmed_up:
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() == frozen_before  # nothing frozen before the warm-up exists
        warm_up = [[index] for index in range(1000)]  # long-lived objects of the run, tracked by the collector
        warmed_up()
        assert gc.get_freeze_count() >= frozen_before + len(warm_up)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)


def test_the_collector_is_restored_when_the_run_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), sending_collector() as warmed_up:
        warmed_up()
        raise RuntimeError("Kafka went away")
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)
