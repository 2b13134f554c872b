"""Prometheus metrics of the processor (no per-extension or per-tenant labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "callapi_processor_events_total", "Call events processed, by result.", ["result"],
)
"""result: joined (≥ 1 job), no_match (no enabled request of that type), rekeyed (put back on call-events under
the canonical extension: it was keyed by the extended form, or not at all), dlq (bad record)."""
for _result in ("joined", "no_match", "rekeyed", "dlq"):
    EVENTS.labels(result=_result)

JOBS = Counter("callapi_processor_jobs_total", "Delivery jobs produced to `deliveries` and acknowledged.")
DEAD_LETTERS = Counter(
    "callapi_processor_dead_letters_total", "Bad call-event records sent to call-events.dlq, by reason.",
    ["reason"],
)
CONFIG_RECORDS = Counter(
    "callapi_processor_config_records_total", "event-requests records applied to the table, by result.",
    ["result"],
)
"""result: set (the extension has enabled requests), removed (none left), invalid (record not readable),
left_behind (a record off its key's own partition: the copy left on the old one when partitions were added, kept
beside the table for the events still written there, used only while no list from the key's own partition is held)."""
for _result in ("set", "removed", "invalid", "left_behind"):
    CONFIG_RECORDS.labels(result=_result)

TABLE_EXTENSIONS = Gauge(
    "callapi_processor_table_extensions", "Extensions with enabled requests in this worker's config table.",
)
LEFT_BEHIND_EXTENSIONS = Gauge(
    "callapi_processor_left_behind_extensions",
    "Lists left on old partitions when partitions were added, held beside this worker's config table.",
)
"""Held until `callapi-events topics forget-old-copies` tombstones them: 0 before any growth, and once it ran
without keeping any."""
LATENCY = Histogram(
    "callapi_processor_latency_seconds",
    "From the event's record timestamp on call-events to its jobs acknowledged on deliveries.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
GAPS = Counter(
    "callapi_processor_gaps_total",
    "Offsets skipped by the stream and read from the broker instead, by whether the broker held records there.",
    ["result"],
)
"""result: filled (records were there and were processed), empty (nothing there: transaction markers, retention)."""
for _result in ("filled", "empty"):
    GAPS.labels(result=_result)
