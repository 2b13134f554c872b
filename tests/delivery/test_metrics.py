"""The worker's metrics: its event-loop histogram reads on /metrics as prometheus_client's Histogram of the same
observations, and its labelled counters are there before their first count."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from delivery.http import new_client
from delivery.metrics import DeliveryMetrics, LoopHistogram
from delivery.worker import new_deliverer
from schemas.publisher import RecordPublisher
from schemas.settings import Settings

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


async def test_every_retry_delay_is_a_series_from_the_start() -> None:
    """So that increase() over callapi_delivery_retries_total sees a worker's first retry to each delay too."""
    settings = Settings(retry_schedule=(5, 30, 120))
    registry = CollectorRegistry()
    client = new_client(settings)
    new_deliverer(settings, client=client, publisher=RecordPublisher(AIOKafkaProducer()),
                  metrics=DeliveryMetrics(registry=registry))
    await client.close()
    exposed = generate_latest(registry).decode().splitlines()
    assert [line for line in exposed if line.startswith("callapi_delivery_retries_total{")] == [
        f'callapi_delivery_retries_total{{delay="{delay}"}} 0.0' for delay in ("5s", "30s", "2m")]
