"""Latency under load: event `occurred_at` (stamped by the producer as it sends) → arrival at nginx, at 25 %,
50 % and 75 % of the measured end-to-end saturation rate, one processor and one delivery worker."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.e2e import PLAN, sink_urls
from bench.load import occurred_at_by_job, paced, percentiles_ms
from bench.pipeline import all_ready, bench_settings, components, config_for, fresh_topics, publish_config, wait_for
from bench.sink import LoggingNginx
from schemas.settings import Settings

SHARES = (0.25, 0.50, 0.75)
BIN_S = 1.0


def over_time(series: list[tuple[float, float]], bin_s: float = BIN_S) -> list[dict[str, float]]:
    """Percentiles of (seconds since the level began, latency s) per `bin_s` of arrival time: what the chart
    draws, a few kB instead of every sample."""
    bins: dict[int, list[float]] = {}
    for at_s, latency_s in series:
        bins.setdefault(int(at_s // bin_s), []).append(latency_s)
    return [{"t_s": index * bin_s, **percentiles_ms(latencies)} for index, latencies in sorted(bins.items())]


def measure_level(settings: Settings, sink: LoggingNginx, config: dict[str, Any], *, rate_eps: float,
                  duration_s: float) -> dict[str, Any]:
    sink.clear()
    sent = paced(settings, replace(PLAN, rate_eps=rate_eps), duration_s)
    owed = occurred_at_by_job(sent.events, config)
    wait_for(lambda: sink.count() >= len(owed), timeout_s=60 + len(owed) / 100, what="every notification",
             every_s=0.5)
    arrivals = [a for a in sink.arrivals() if a.webhook_id in owed]
    began = min(owed.values())
    series = sorted((a.at_s - began, a.at_s - owed[a.webhook_id]) for a in arrivals)
    return {"target_eps": round(rate_eps), "achieved_eps": round(sent.rate_eps), "duration_s": duration_s,
            "notifications": len(owed), **percentiles_ms([latency for _, latency in series]),
            "over_time": over_time(series)}


def run(base: Settings, *, saturation_eps: float, duration_s: float) -> dict[str, Any]:
    settings = bench_settings(base)
    levels = []
    with LoggingNginx() as sink, fresh_topics(settings):
        config = config_for(PLAN, sink_urls(sink))
        publish_config(settings, config)
        with components(settings, processors=1, workers=1) as procs:
            all_ready(procs)
            for share in SHARES:
                level = measure_level(settings, sink, config, rate_eps=saturation_eps * share, duration_s=duration_s)
                levels.append({"share_of_saturation": share, **level})
    return {"saturation_eps": round(saturation_eps), "levels": levels}
