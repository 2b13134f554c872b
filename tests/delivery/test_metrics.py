"""The worker's event-loop histogram reads on /metrics as prometheus_client's Histogram of the same observations."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from delivery.metrics import LoopHistogram

BUCKETS = (0.005, 0.01, 0.5, 1, 30)
VALUES = (0.0, 0.001, 0.005, 0.0050001, 0.01, 0.3, 1.0, 1.0, 29.9, 30.0, 31.0, 1e9)


def _exposition(kind: Any) -> list[str]:
    registry = CollectorRegistry()
    histogram = kind("callapi_test_seconds", "A test histogram", buckets=BUCKETS, registry=registry)
    for value in VALUES:
        histogram.observe(value)
    lines = generate_latest(registry).decode().splitlines()
    return [line.rsplit(" ", 1)[0] if line.startswith("callapi_test_seconds_created") else line  # made at other times
            for line in lines]


def test_the_loop_histogram_reads_as_prometheus_clients() -> None:
    assert _exposition(LoopHistogram) == _exposition(Histogram)
