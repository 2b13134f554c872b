"""Many destination hosts: one delivery worker's rate and CPU per job as its jobs spread over more host names.

The pyreqwest client keeps one reqwest client per host name (delivery/pinning.py, an LRU of `max_destinations`),
each a few ms of CPU to build; the aiohttp client has one session for every host. A backlog of jobs whose URLs
go round-robin over H names (`http://d{i}.bench.test:<port>/hook`, all resolved to one local nginx answering
204) is drained by the real worker (`run_worker`, in a process of its own per case, with an injected client:
bench/destination_clients.py). The worker reads its 12 partitions in batches, so it meets the hosts in a
shuffled order; with more hosts than the LRU holds, a share of the jobs (measured: host setups per job) builds
a client.

Per case: a first pass (until every host was set up once, or pyreqwest's LRU is full), then `WINDOWS` windows,
each ending after `window_jobs` jobs or `window_s` seconds. Reported: the medians of the windows' jobs/s and CPU
per job (the whole process: event loop, executor threads building clients, pyreqwest's I/O threads; and the
event loop's thread alone), host setups per job (reqwest clients built; names resolved by aiohttp), the first
pass's own rate and cost, and the process's RSS growth from before the worker started.

    python -m bench.destinations [--quick]      (or `callapi-events bench --only destinations`)

Writes bench/results/destinations.json (bench/results/quick/ with --quick)."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import queue
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.destination_clients import bench_client, host_name
from bench.nginx import Nginx
from bench.pipeline import bench_settings, fresh_topics, publish
from bench.worker import notification
from delivery.metrics import DeliveryMetrics
from schemas.attempts import Outcome
from schemas.codec import encode
from schemas.consoles import stdout_console
from schemas.settings import Settings

WINDOWS = 5
FIRST_PASS_MIN_JOBS = 500
FIRST_PASS_MAX_S = 120.0
LRU: int = Settings.model_fields["max_destinations"].default
Say = Callable[[str], None]


@dataclass(frozen=True)
class Case:
    client: str
    hosts: int
    max_destinations: int  # the pyreqwest client's LRU; unused by aiohttp
    window_jobs: int
    window_s: float

    @property
    def label(self) -> str:
        lru = f", max_destinations {self.max_destinations}" if self.client == "pyreqwest" else ""
        return f"{self.client}{lru}, {self.hosts:,} hosts"

    @property
    def held_hosts(self) -> int:
        """Hosts set up once the first pass is over: all of them, or as many as pyreqwest's LRU holds."""
        return self.hosts if self.client == "aiohttp" else min(self.hosts, self.max_destinations)

    @property
    def backlog(self) -> int:
        """Enough for the first pass and every window (each ends a little past its jobs). The worker reads the
        partitions in batches, not in the written order: it met the last of H hosts after 4-5 H jobs."""
        return 8 * self.held_hosts + FIRST_PASS_MIN_JOBS + (WINDOWS + 1) * self.window_jobs


def cases(hosts: tuple[int, ...], *, window_jobs: int, window_s: float) -> list[Case]:
    """pyreqwest (default LRU) and aiohttp at every size; pyreqwest with an LRU above the largest size."""
    most = max(hosts)
    found = [Case(client, h, LRU, window_jobs, window_s) for h in hosts for client in ("pyreqwest", "aiohttp")]
    return [*found, Case("pyreqwest", most, 2 * most, window_jobs, window_s)] if most >= LRU else found


class CountingMetrics(DeliveryMetrics):
    def __init__(self) -> None:
        super().__init__(registry=CollectorRegistry())
        self.count = self.not_delivered = 0

    def attempted(self, outcome: Outcome) -> None:
        super().attempted(outcome)
        self.count += 1
        self.not_delivered += outcome != "delivered"


def rss_mb() -> float:
    match = re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())
    return round(int(match.group(1)) / 1024, 1) if match else 0.0


async def _window(metrics: CountingMetrics, *, until: Callable[[int], bool], seconds: float) -> dict[str, float]:
    """Until `until(jobs attempted since)` or `seconds` passed; count and clocks are read together every 20 ms."""
    count, started_s, cpu_s, loop_cpu_s = metrics.count, time.perf_counter(), time.process_time(), time.thread_time()
    while not until(metrics.count - count) and time.perf_counter() - started_s < seconds:  # noqa: ASYNC110
        await asyncio.sleep(0.02)  # polled: a window also ends on time, and nothing is added to every job
    done, elapsed_s = metrics.count - count, time.perf_counter() - started_s
    if done == 0:
        raise RuntimeError(f"no job was attempted within {elapsed_s:.1f} s")
    return {"jobs": done, "s": round(elapsed_s, 2), "jobs_per_s": round(done / elapsed_s),
            "cpu_us_per_job": round(1e6 * (time.process_time() - cpu_s) / done, 1),
            "loop_cpu_us_per_job": round(1e6 * (time.thread_time() - loop_cpu_s) / done, 1)}


async def _first_attempt(metrics: CountingMetrics, worker: asyncio.Task[None], timeout_s: float = 60) -> None:
    deadline_s = time.monotonic() + timeout_s
    while metrics.count == 0:
        if worker.done():
            await worker  # raises what stopped it
        if time.monotonic() > deadline_s:
            raise TimeoutError(f"the worker made no attempt within {timeout_s:.0f} s")
        await asyncio.sleep(0.02)


async def _reporting(metrics: CountingMetrics, case: Case, say: Say) -> None:
    while True:
        say(f"{case.label}: {metrics.count:,} jobs delivered")
        await asyncio.sleep(0.5)


async def measure(case: Case, settings: Settings, *, port: int, say: Say) -> dict[str, Any]:
    """The worker with this case's client, in this process, draining jobs spread over `case.hosts` names."""
    from delivery.worker import run_worker
    from schemas.collector import DELIVERY_YOUNG_THRESHOLD, collect_less_often

    say(f"{case.label}: writing {case.backlog:,} jobs")
    jobs = (notification(f"http://{host_name(i % case.hosts)}:{port}/hook", number=i, extension=f"0003*{i % 997}")
            for i in range(case.backlog))
    await publish(settings, settings.topics.deliveries, ((job.extension.encode(), encode(job)) for job in jobs))
    rss_before_mb, metrics = rss_mb(), CountingMetrics()
    client = bench_client(settings, case.client, max_destinations=case.max_destinations)
    collect_less_often(DELIVERY_YOUNG_THRESHOLD)
    worker = asyncio.create_task(run_worker(settings, host="127.0.0.1", port=0, metrics=metrics, client=client))
    reporter = asyncio.create_task(_reporting(metrics, case, say))
    try:
        await _first_attempt(metrics, worker)
        first = await _window(metrics, seconds=FIRST_PASS_MAX_S,
                              until=lambda done: done >= FIRST_PASS_MIN_JOBS and client.setups >= case.held_hosts)
        rss_first_mb, setups = rss_mb(), client.setups
        windows = [await _window(metrics, until=lambda done: done >= case.window_jobs, seconds=case.window_s)
                   for _ in range(WINDOWS)]
        setups, rss_end_mb = client.setups - setups, rss_mb()
        _check_measured(case, metrics, worker)
    finally:
        for task in (reporter, worker):
            task.cancel()
        await asyncio.gather(reporter, worker, return_exceptions=True)
    return _result(case, first, windows, setups=setups, not_delivered=metrics.not_delivered,
                   rss_mb={"before": rss_before_mb, "after_first_pass": rss_first_mb, "end": rss_end_mb})


def _check_measured(case: Case, metrics: CountingMetrics, worker: asyncio.Task[None]) -> None:
    """A window that ran out of jobs, or whose worker stopped, would understate the rate."""
    if worker.done():
        raise RuntimeError(f"{case.label}: the worker stopped while measured: {worker.exception()!r}")
    if metrics.count >= case.backlog:
        raise RuntimeError(f"{case.label}: the backlog ran out while measured; raise Case.backlog")


def _result(case: Case, first: dict[str, float], windows: list[dict[str, float]], *, setups: int,
            not_delivered: int, rss_mb: dict[str, float]) -> dict[str, Any]:
    def median(key: str) -> float:
        return round(statistics.median(w[key] for w in windows), 1)

    measured_jobs = sum(w["jobs"] for w in windows)
    return {"case": asdict(case), "label": case.label, "jobs_per_s": round(median("jobs_per_s")),
            "cpu_us_per_job": median("cpu_us_per_job"), "loop_cpu_us_per_job": median("loop_cpu_us_per_job"),
            "host_setups_per_job": round(setups / measured_jobs, 3),
            "windows": windows, "first_pass": first, "rss_mb": rss_mb,
            "rss_growth_mb": round(rss_mb["end"] - rss_mb["before"], 1), "not_delivered": not_delivered}


def _child(case: Case, settings: Settings, port: int, messages: multiprocessing.Queue[tuple[str, Any]]) -> None:
    """One case in a fresh process: its RSS and its client's state are its own."""
    import logging

    import uvloop  # as `callapi-events deliver` runs

    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    try:
        with fresh_topics(settings) as fresh:
            result = uvloop.run(measure(case, fresh, port=port, say=lambda text: messages.put(("say", text))))
        messages.put(("result", result))
    except Exception as error:
        messages.put(("error", f"{type(error).__name__}: {error}"))


def run_case(case: Case, settings: Settings, *, port: int, say: Say) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    messages: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    child = context.Process(target=_child, args=(case, settings, port, messages), daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, value = messages.get(timeout=1)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(f"{case.label}: the measuring process exited ({child.exitcode})") from None
                continue
            if kind == "say":
                say(value)
            elif kind == "result":
                return dict(value)
            else:
                raise RuntimeError(f"{case.label}: {value}")
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()


def run(base: Settings, *, hosts: tuple[int, ...], window_jobs: int, window_s: float,
        say: Say = print) -> dict[str, Any]:
    """Every case of `cases`, one after another, against one nginx; the worker's settings otherwise as shipped."""
    results = []
    with Nginx() as nginx:
        todo = cases(hosts, window_jobs=window_jobs, window_s=window_s)
        for index, case in enumerate(todo, start=1):
            settings = bench_settings(base, allow_private_urls=False)  # fresh topics; the pinned clients measured
            results.append(run_case(case, settings, port=nginx.port, say=_prefixed(say, f"case {index}/{len(todo)}")))
    return {"hosts": list(hosts), "default_max_destinations": LRU, "windows": WINDOWS, "window_jobs": window_jobs,
            "window_s": window_s, "max_in_flight": base.max_in_flight, "cases": results}


def _prefixed(say: Say, prefix: str) -> Say:
    return lambda text: say(f"{prefix}, {text}")


def main() -> None:
    import json

    from bench.machine import environment
    from bench.report import RESULTS, write
    from bench.run import FULL, QUICK

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer hosts and shorter windows")
    quick = parser.parse_args().quick
    sizes, settings, console = QUICK if quick else FULL, Settings(), stdout_console()
    with console.status("destinations: starting…") as status:
        result = run(settings, hosts=sizes.destination_hosts, window_jobs=sizes.destination_window_jobs,
                     window_s=sizes.destination_window_s,
                     say=lambda text: status.update(f"[bold]destinations[/bold]: {text}"))
    console.print_json(json.dumps(result))
    out, meta = RESULTS / "quick" if quick else RESULTS, {"environment": environment(settings),
                                                          "mode": "quick" if quick else "full"}
    console.print(f"wrote {write(out, 'destinations', {**meta, **result})}")


if __name__ == "__main__":
    main()
