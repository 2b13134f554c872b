"""Scaling on this machine: 1 → 2 delivery workers and 1 → 2 processors, each stage measured on its own.

Workers: N `deliver` processes ready and settled in their group, then a backlog of DeliveryJobs; the rate is
the sink's arrivals first → last. Processors: N `processor` processes ready with the config, then a backlog
of events; the rate is the jobs on `deliveries` between the first and the last (their Kafka timestamps).
Every process also needs CPU for Kafka, nginx and the load itself, and the machine has two cores.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from bench.e2e import PLAN, drain_rate, sink_urls
from bench.load import backlog
from bench.pipeline import (
    all_ready,
    bench_settings,
    components,
    config_for,
    fresh_topics,
    publish_config,
    read_records,
)
from bench.sink import LoggingNginx
from bench.worker import publish_backlog
from schemas.settings import Settings

SETTLE_S = 3.0
"""after every member is ready, so the group's last rebalance is over before the backlog arrives"""


def workers_rate(base: Settings, *, workers: int, jobs: int) -> dict[str, Any]:
    settings = bench_settings(base)
    with LoggingNginx() as sink, fresh_topics(settings), components(settings, processors=0, workers=workers) as procs:
        all_ready(procs)
        time.sleep(SETTLE_S)
        asyncio.run(publish_backlog(settings, f"{sink.url}/hook", jobs))
        return {"workers": workers, **drain_rate(sink, jobs, timeout_s=120 + jobs / 100)}


def processors_rate(base: Settings, *, processors: int, events: int) -> dict[str, Any]:
    settings = bench_settings(base)
    with LoggingNginx() as sink, fresh_topics(settings):
        publish_config(settings, config_for(PLAN, sink_urls(sink)))
        with components(settings, processors=processors, workers=0) as procs:
            all_ready(procs)
            time.sleep(SETTLE_S)
            all_ready(procs)
            backlog(settings, PLAN, events)
            jobs = asyncio.run(read_records(settings, settings.topics.deliveries, events, timeout_s=120 + events / 100))
    stamps = [record.timestamp for record in jobs]
    span_s = (max(stamps) - min(stamps)) / 1000
    return {"processors": processors, "jobs": len(stamps), "span_s": round(span_s, 2),
            "per_s": round((len(stamps) - 1) / span_s)}


def run(base: Settings, *, jobs: int, events: int) -> dict[str, Any]:
    delivery = [workers_rate(base, workers=n, jobs=jobs) for n in (1, 2)]
    processing = [processors_rate(base, processors=n, events=events) for n in (1, 2)]
    return {
        "cores": os.cpu_count(),
        "delivery_workers": delivery,
        "delivery_ratio_2_to_1": round(delivery[1]["per_s"] / delivery[0]["per_s"], 2),
        "processors": processing,
        "processor_ratio_2_to_1": round(processing[1]["per_s"] / processing[0]["per_s"], 2),
    }
