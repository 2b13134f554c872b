"""Isolation: 20 endpoints (20 ports of one nginx, so 20 destinations), paced load at a third of the saturation
rate (the saturation rate drains a backlog; with the load generator on the same cores, half of it already
saturates 2 cores, and a saturated baseline would hide the effect); one run with all 20 healthy (baseline), one
with endpoint 0 replaced by a server that accepts and never answers (past the request timeout). The figure:
latency of the 19 healthy endpoints in both runs."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import replace
from typing import Any

from bench.e2e import PLAN
from bench.load import occurred_at_by_job, paced, percentiles_ms
from bench.pipeline import all_ready, bench_settings, components, config_for, fresh_topics, publish_config, wait_for
from bench.sink import LoggingNginx
from schemas.extensions import extended_form
from schemas.settings import Settings

ENDPOINTS = 20


class _Silent(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(120)
        try:
            while self.request.recv(65536):
                pass
        except OSError:
            pass


class HangingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Accepts connections, reads, never answers."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Silent)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def one_run(base: Settings, *, rate_eps: float, duration_s: float, hanging: bool) -> dict[str, Any]:
    settings = bench_settings(base)
    hang = HangingServer() if hanging else None
    try:
        with LoggingNginx(ports=ENDPOINTS) as sink, fresh_topics(settings):
            urls = [sink.url_of(port) for port in sink.ports]
            if hang is not None:
                urls[0] = hang.url
            extensions = [e.number for e in PLAN.population().extensions]
            endpoint_of = {ext: index % ENDPOINTS for index, ext in enumerate(extensions)}
            config = config_for(PLAN, lambda ext, kind: f"{urls[endpoint_of[ext]]}/{extended_form(ext)}/{kind.slug}")
            publish_config(settings, config)
            with components(settings, processors=1, workers=1) as procs:
                all_ready(procs)
                sent = paced(settings, replace(PLAN, rate_eps=rate_eps), duration_s)
                healthy = {ext: reqs for ext, reqs in config.items() if endpoint_of[ext] != 0}
                owed = occurred_at_by_job(sent.events, healthy)
                wait_for(lambda: len({a.webhook_id for a in sink.arrivals()} & owed.keys()) >= len(owed),
                         timeout_s=120, what="the healthy endpoints' notifications", every_s=1.0)
                latencies = [a.at_s - owed[a.webhook_id] for a in sink.arrivals() if a.webhook_id in owed]
    finally:
        if hang is not None:
            hang.shutdown()
            hang.server_close()
    return {"hanging_endpoint": hanging, "achieved_eps": round(sent.rate_eps), "healthy_endpoints": ENDPOINTS - 1,
            **percentiles_ms(latencies)}


def run(base: Settings, *, saturation_eps: float, duration_s: float) -> dict[str, Any]:
    rate_eps = saturation_eps / 3
    baseline = one_run(base, rate_eps=rate_eps, duration_s=duration_s, hanging=False)
    with_hang = one_run(base, rate_eps=rate_eps, duration_s=duration_s, hanging=True)
    return {"rate_eps": round(rate_eps), "duration_s": duration_s, "request_timeout_s": base.request_timeout_s,
            "baseline": baseline, "one_hanging": with_hang,
            "p99_ratio": round(with_hang["p99_ms"] / baseline["p99_ms"], 2)}
