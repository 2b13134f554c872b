"""`callapi-events bench`: run the benchmarks in order, write each result as it is measured, then the
charts and the summary. `--quick` uses small sizes (under 5 minutes) and writes to bench/results/quick/."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import config_scale, delivery_log, destinations, dlq_tools, e2e, http_clients, isolation, latency, scaling
from bench.cli import NAMES as BENCHMARKS
from bench.machine import environment
from bench.report import RESULTS, charts, write
from bench.summary import write_summary
from schemas.settings import Settings


@dataclass(frozen=True)
class Sizes:
    e2e_events: int
    ceiling_requests: int
    wrk_s: int
    latency_s: float
    scaling_jobs: int
    scaling_events: int
    isolation_s: float
    config_sizes: tuple[int, ...]
    probes: int
    changes: int
    client_requests: int
    worker_jobs: int
    destination_hosts: tuple[int, ...]
    destination_window_jobs: int
    destination_window_s: float
    log_attempts: int
    dlq_letters: tuple[int, ...]


QUICK = Sizes(e2e_events=5000, ceiling_requests=2000, wrk_s=3, latency_s=6, scaling_jobs=5000, scaling_events=4000,
              isolation_s=8, config_sizes=(10_000,), probes=100, changes=20,
              client_requests=2000, worker_jobs=5000, destination_hosts=(10, 1500), destination_window_jobs=4000,
              destination_window_s=1.5, log_attempts=30_000,
              dlq_letters=(5000, 25_000))
FULL = Sizes(e2e_events=40_000, ceiling_requests=10_000, wrk_s=10, latency_s=30, scaling_jobs=30_000,
             scaling_events=20_000, isolation_s=30, config_sizes=(10_000, 100_000, 1_000_000), probes=300, changes=50,
             client_requests=5000, worker_jobs=20_000, destination_hosts=(10, 500, 2000),
             destination_window_jobs=10_000, destination_window_s=3.0, log_attempts=200_000,
             dlq_letters=(20_000, 200_000))


def _saturation(out: Path, settings: Settings, sizes: Sizes, done: dict[str, Any]) -> float:
    """This run's end-to-end rate, else the last one written, else measured now."""
    if "e2e" not in done and (out / "e2e.json").exists():
        done["e2e"] = json.loads((out / "e2e.json").read_text())
    if "e2e" not in done:
        done["e2e"] = e2e.run(settings, events=sizes.e2e_events, ceiling_requests=sizes.ceiling_requests,
                              wrk_s=sizes.wrk_s)
    return float(done["e2e"]["end_to_end"]["per_s"])


def _runners(out: Path, settings: Settings, s: Sizes, done: dict[str, Any],
             say: Callable[[str], None]) -> dict[str, Callable[[], Any]]:
    return {
        "delivery": lambda: http_clients.run(requests=s.client_requests, worker_jobs=s.worker_jobs),
        "e2e": lambda: e2e.run(settings, events=s.e2e_events, ceiling_requests=s.ceiling_requests, wrk_s=s.wrk_s),
        "latency": lambda: latency.run(settings, saturation_eps=_saturation(out, settings, s, done),
                                       duration_s=s.latency_s),
        "scaling": lambda: scaling.run(settings, jobs=s.scaling_jobs, events=s.scaling_events),
        "isolation": lambda: isolation.run(settings, saturation_eps=_saturation(out, settings, s, done),
                                           duration_s=s.isolation_s),
        "config_scale": lambda: config_scale.run(settings, sizes=s.config_sizes, probes=s.probes, changes=s.changes),
        "destinations": lambda: destinations.run(settings, hosts=s.destination_hosts,
                                                 window_jobs=s.destination_window_jobs,
                                                 window_s=s.destination_window_s, say=say),
        "delivery_log": lambda: delivery_log.run(settings, attempts_per_round=s.log_attempts),
        "dlq_tools": lambda: dlq_tools.run(settings, sizes=s.dlq_letters),
    }


def run_benchmarks(*, quick: bool, only: list[str], console: Console) -> list[Path]:
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request of the httpx candidate otherwise
    settings = Settings()
    sizes = QUICK if quick else FULL
    out = RESULTS / "quick" if quick else RESULTS
    done: dict[str, Any] = {}
    status = console.status("")
    runners = _runners(out, settings, sizes, done, say=lambda text: status.update(f"[bold]destinations[/bold]: {text}"))
    written = []
    for name in only or BENCHMARKS:
        began = time.monotonic()
        status.update(f"[bold]{name}[/bold]: running ({'quick' if quick else 'full'} sizes)…")
        with status:
            result = runners[name]()
        done[name] = result
        meta = {"environment": environment(settings), "mode": "quick" if quick else "full",
                "sizes": asdict(sizes), "elapsed_s": round(time.monotonic() - began, 1)}
        written.append(write(out, name, {**meta, **result}))
        console.print(f"{name}: done in {meta['elapsed_s']} s → {written[-1]}")
    pictures = charts(out)
    written += [*pictures, write_summary(out, pictures)]
    return written
