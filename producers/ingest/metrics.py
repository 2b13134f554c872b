"""Metrics of the ingest endpoint (no per-tenant labels: tenants are unbounded)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("callapi_ingest_requests_total", "Ingest HTTP requests, by route and status", ["route", "status"])
EVENTS = Counter(
    "callapi_ingest_events_total", "Events in ingest requests, by outcome (accepted, rejected, unavailable)",
    ["outcome"],
)
DURATION = Histogram(
    "callapi_ingest_request_duration_seconds", "Ingest request time, until Kafka acknowledged", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LATIN1_FALLBACK = Counter(
    "callapi_ingest_latin1_fallback_total",
    "Parameters whose bytes were not UTF-8 and were read as Windows-1252 (ISO-8859-1), by where they came "
    "(query, form, multipart)", ["source"],
)
AUTH = Counter("callapi_ingest_auth_total", "Credential checks, by result", ["result"])
READY_CHECKS = Counter(
    "callapi_ingest_ready_checks_total",
    "Metadata requests made to answer /readyz, by result (reachable, topic_missing, unreachable)", ["result"],
)
