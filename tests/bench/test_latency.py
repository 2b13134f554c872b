"""The latency chart's data: percentiles per second of arrival time."""

from __future__ import annotations

from bench.latency import over_time


def test_over_time_gives_each_second_its_own_percentiles() -> None:
    series = [(0.1, 0.010), (0.5, 0.030), (0.9, 0.020), (2.2, 0.500)]
    bins = over_time(series)
    assert [b["t_s"] for b in bins] == [0.0, 2.0]  # no arrivals in the second second: no bin
    assert (bins[0]["count"], bins[0]["p50_ms"], bins[0]["max_ms"]) == (3, 20.0, 30.0)
    assert (bins[1]["count"], bins[1]["p99_ms"]) == (1, 500.0)
