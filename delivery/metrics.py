"""Prometheus metrics of the workers (no per-tenant or per-extension labels)."""

from __future__ import annotations

import math
import os
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import accumulate

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from schemas.attempts import Outcome

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_END_TO_END_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 10800, 21600)


class LoopHistogram(Collector):
    """A histogram observed and read on the event loop only (/metrics is served there too): a bisection and two
    additions per observation, where prometheus_client's Histogram takes two locks and walks its buckets, ~0.9 µs
    twice per job. /metrics shows it as that Histogram."""

    def __init__(self, name: str, documentation: str, *, buckets: Sequence[float], registry: CollectorRegistry) -> None:
        self._name, self._documentation = name, documentation
        self._bounds = [float(bound) for bound in buckets] + [math.inf]
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._created = time.time()
        registry.register(self)

    def observe(self, amount: float) -> None:
        self._counts[bisect_left(self._bounds, amount)] += 1  # the first bucket whose bound is >= amount
        self._sum += amount

    def collect(self) -> Iterator[Metric]:
        cumulative = zip([floatToGoString(bound) for bound in self._bounds], accumulate(self._counts), strict=True)
        family = HistogramMetricFamily(self._name, self._documentation, buckets=list(cumulative),
                                       sum_value=self._sum)
        if os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "false").lower() not in ("true", "1", "t"):
            family.samples.append(Sample(f"{self._name}_created", {}, self._created))
        yield family


class DeliveryMetrics:
    def __init__(self, *, registry: CollectorRegistry = REGISTRY) -> None:
        self.attempts = Counter(
            "callapi_delivery_attempts_total", "Delivery attempts by outcome", ["outcome"], registry=registry
        )
        # every series from the start, so increase() sees the first one too
        self._attempts_by_outcome = {outcome: self.attempts.labels(outcome=outcome.value) for outcome in Outcome}
        self.attempt_duration = LoopHistogram(
            "callapi_delivery_attempt_duration_seconds", "Duration of one HTTP attempt",
            buckets=_LATENCY_BUCKETS_S, registry=registry,
        )
        self.end_to_end = LoopHistogram(
            "callapi_delivery_end_to_end_seconds",
            "From the event's occurred_at to a 2xx reply (replayed and redriven jobs left out)",
            buckets=_END_TO_END_BUCKETS_S, registry=registry,
        )
        self.retries = Counter(
            "callapi_delivery_retries_total", "Jobs scheduled for a retry, by delay topic", ["delay"],
            registry=registry,
        )
        self.deferred = Counter(
            "callapi_delivery_deferred_total",
            "Jobs sent to the retry path without spending an attempt: their host was saturated (host_stalled), "
            "its circuit open (circuit_open), or their wait outlasted their delay topic's (not_due)", ["reason"],
            registry=registry,
        )
        for reason in ("host_stalled", "circuit_open", "not_due"):
            self.deferred.labels(reason=reason)
        self.disables_not_applied = Counter(
            "callapi_delivery_disables_not_applied_total", "410 replies whose disable of the request waited past "
            "its timeout (a lock held on the row) and was not applied; their jobs stopped", registry=registry,
        )
        self.dead_letters = Counter("callapi_delivery_dlq_total", "Jobs put on deliveries.dlq", registry=registry)
        self.invalid = Counter(
            "callapi_delivery_invalid_records_total", "Unreadable records moved to deliveries.dlq", registry=registry
        )
        self.open_circuits = Gauge(
            "callapi_delivery_open_circuits", "Destinations whose circuit is open or half-open and jobs still "
            "ask about (within 10 open windows)", registry=registry
        )
        self.in_flight = Gauge("callapi_delivery_in_flight", "Jobs being worked on", registry=registry)

    def attempted(self, outcome: Outcome) -> None:
        """Count one attempt (its labelled child was looked up once: this runs for every job)."""
        self._attempts_by_outcome[outcome].inc()
