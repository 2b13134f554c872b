"""End-to-end throughput at saturation, and its ceilings measured in the same run against the same sink.

producer SDK → call-events → one processor → deliveries → one delivery worker → nginx (204). The components
are started and ready first; then a backlog is written as fast as the SDK goes, and the rate is the sink's
arrivals between the first and the last notification. The ceilings: the fastest bare Python HTTP client
loop (bench/http_clients.py) with the worker's per-destination concurrency, and `wrk` (C).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.http_clients import CANDIDATES, bench_client
from bench.load import backlog
from bench.pipeline import all_ready, bench_settings, components, config_for, fresh_topics, publish_config, wait_for
from bench.sink import LoggingNginx
from bench.worker import notification
from delivery.request import OutgoingRequest, build_request
from producers.simulator.generator import Plan
from schemas.extensions import extended_form
from schemas.settings import Settings

PLAN = Plan(seed=7, organizations=10, extensions=20, rate_eps=1000.0)
BARE_CLIENTS = ("aiohttp", "pyreqwest")


def sink_urls(sink: LoggingNginx) -> Any:
    return lambda extension, kind: f"{sink.url}/{extended_form(extension)}/{kind.slug}"


def drain_rate(sink: LoggingNginx, expected: int, timeout_s: float) -> dict[str, Any]:
    """Wait for `expected` arrivals; the rate between the first and the last."""
    wait_for(lambda: sink.count() >= expected, timeout_s=timeout_s, what=f"{expected} notifications at the sink",
             every_s=0.5)
    times = sorted(a.at_s for a in sink.arrivals())
    span_s = times[-1] - times[0]
    return {"notifications": len(times), "span_s": round(span_s, 2), "per_s": round((len(times) - 1) / span_s)}


def wrk_rate(url: str, request: OutgoingRequest, *, concurrency: int, seconds: int) -> float:
    headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in request.headers.items() if k.lower() != "host")
    script = f'wrk.method = "{request.method}"\nwrk.body = "{request.body.decode()}"\n{headers}'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        result = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", lua.name, url],
                                capture_output=True, text=True, timeout=seconds + 30, check=True)
    finally:
        Path(lua.name).unlink()
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if match is None:
        raise RuntimeError(f"wrk printed no rate:\n{result.stdout}{result.stderr}")
    return float(match.group(1))


def ceilings(sink: LoggingNginx, *, concurrency: int, requests: int, wrk_s: int) -> dict[str, Any]:
    request = build_request(notification(f"{sink.url}/0003210/dial-in"), now_s=int(time.time()),
                            user_agent="callapi-bench")
    clients = [uvloop.run(bench_client(name, CANDIDATES[name], request, count=requests, concurrency=concurrency))
               for name in BARE_CLIENTS]  # on the worker's event loop
    measured = [c for c in clients if "requests_per_s" in c]
    fastest = max(measured, key=lambda c: c["requests_per_s"])
    wrk = wrk_rate(f"{sink.url}/0003210/dial-in", request, concurrency=concurrency, seconds=wrk_s)
    return {"bare_clients": clients, "fastest_bare_client": fastest, "wrk_per_s": round(wrk),
            "concurrency": concurrency, "request": {"method": request.method, "body_bytes": len(request.body)}}


def run(base: Settings, *, events: int, ceiling_requests: int = 5000, wrk_s: int = 5) -> dict[str, Any]:
    settings = bench_settings(base)
    with LoggingNginx() as sink, fresh_topics(settings):
        config = config_for(PLAN, sink_urls(sink))
        publish_config(settings, config)
        with components(settings, processors=1, workers=1) as procs:
            all_ready(procs)
            sent = backlog(settings, PLAN, events)
            pipeline = drain_rate(sink, events, timeout_s=120 + events / 100)
        sink.clear()
        ceiling = ceilings(sink, concurrency=settings.max_per_host, requests=ceiling_requests, wrk_s=wrk_s)
    bare = ceiling["fastest_bare_client"]["requests_per_s"]
    return {
        "events": events, "extensions": len(config), "jobs_per_event": 1,
        "producer_events_per_s": round(sent.rate_eps), "end_to_end": pipeline, **ceiling,
        "ratio_to_bare_client": round(pipeline["per_s"] / bare, 3),
        "ratio_to_wrk": round(pipeline["per_s"] / ceiling["wrk_per_s"], 3),
        "goal_ratio_to_bare_client": 0.8,
    }
