"""bench/results/summary.md: one markdown table of every figure, generated from the JSON results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.machine import caption
from bench.report import load

Row = tuple[str, str, str]


def _delivery(r: dict[str, Any]) -> list[Row]:
    worker, bare = r["worker"], r["fastest_bare_client"]
    return [
        (f"One delivery worker draining a backlog (median of {len(r['worker_rounds'])})",
         f"**{worker['jobs_per_s']:,} jobs/s**",
         f"{worker['worker_cpu_us_per_job']} µs CPU per job; runs {', '.join(f'{x:,}' for x in r['worker_rounds'])}"),
        (f"Ceiling: bare `{bare['client']}` loop, same requests, concurrency {r['concurrency']}",
         f"{bare['requests_per_s']:,} req/s", f"ratio worker / bare client **{r['ratio']}** (goal ≥ "
         f"{r['target_ratio']}); worker / bare aiohttp {r['ratio_to_bare_aiohttp']}"),
        *_worker_bounds(r),
    ]


def _worker_bounds(r: dict[str, Any]) -> list[Row]:
    """What bound the worker: the cores each part used, and how long one request took inside it."""
    worker = r["worker"]
    if "cores" not in worker:  # results written before these were measured
        return []
    cores = worker["cores"]
    return [("Cores used while the worker drained the backlog",
             f"machine {cores['machine_busy']} of {cores['machine_cores']}",
             f"worker {cores['worker']} (its event loop {cores['worker_event_loop_thread']}), Kafka broker "
             f"{cores['kafka_broker']}, nginx {cores['nginx']}"),
            ("One request's time: inside the worker / in the bare loop",
             f"{worker['request_ms_mean']} / {r['request_ms_fastest_bare']} ms",
             f"worker: mean of its attempts' durations (p50 {worker['request_ms_p50']} ms); bare loop: "
             f"concurrency / rate")]


def _e2e(r: dict[str, Any]) -> list[Row]:
    bare = r["fastest_bare_client"]
    return [
        ("End-to-end throughput at saturation (1 processor, 1 delivery worker)",
         f"**{r['end_to_end']['per_s']:,} notifications/s**", f"{r['events']:,} events, {r['extensions']} extensions,"
         f" producer SDK wrote {r['producer_events_per_s']:,} events/s"),
        (f"Ceiling: bare `{bare['client']}` loop, concurrency {r['concurrency']}", f"{bare['requests_per_s']:,} req/s",
         f"ratio end-to-end / bare client **{r['ratio_to_bare_client']}** (goal ≥ {r['goal_ratio_to_bare_client']})"),
        (f"Ceiling: `wrk` -c{r['concurrency']}", f"{r['wrk_per_s']:,} req/s",
         f"ratio end-to-end / wrk {r['ratio_to_wrk']}"),
    ]


def _latency(r: dict[str, Any]) -> list[Row]:
    return [(f"Latency at {level['share_of_saturation']:.0%} of saturation ({level['achieved_eps']} events/s)",
             f"p50 {level['p50_ms']} · p95 {level['p95_ms']} · p99 {level['p99_ms']} · max {level['max_ms']} ms",
             f"occurred_at → nginx receipt, {level['notifications']:,} notifications over {level['duration_s']} s")
            for level in r["levels"]]


def _scaling(r: dict[str, Any]) -> list[Row]:
    w, p = r["delivery_workers"], r["processors"]
    slow = "processor" if p[0]["per_s"] < w[0]["per_s"] else "delivery"
    limit = (f"What limits it: CPU. {r['cores']} cores run Kafka, the load and every replica; one {slow} stage is the "
             f"slower ({p[0]['per_s']:,} vs {w[0]['per_s']:,} /s alone), so it bounds the pipeline, and a second "
             f"replica mostly competes for the same cores")
    return [
        ("Delivery workers 1 → 2 (stage alone)", f"{w[0]['per_s']:,} → {w[1]['per_s']:,} /s "
         f"(x{r['delivery_ratio_2_to_1']})", f"{r['cores']} cores shared with Kafka, nginx and the load"),
        ("Processors 1 → 2 (stage alone)", f"{p[0]['per_s']:,} → {p[1]['per_s']:,} jobs/s "
         f"(x{r['processor_ratio_2_to_1']})", f"{r['cores']} cores shared with Kafka and the producer"),
        ("Scaling limit", "CPU-bound", limit),
    ]


def _isolation(r: dict[str, Any]) -> list[Row]:
    base, hang = r["baseline"], r["one_hanging"]
    return [("Isolation: p99 of 19 healthy endpoints, 1 of 20 hanging",
             f"{base['p99_ms']} → {hang['p99_ms']} ms (x{r['p99_ratio']})",
             f"{r['rate_eps']} events/s, request timeout {r['request_timeout_s']} s; p50 {base['p50_ms']} → "
             f"{hang['p50_ms']} ms")]


def _config(r: dict[str, Any]) -> list[Row]:
    rows = []
    for size in r["sizes"]:
        join, change = size["join_latency"], size["config_change_visible"]
        rows.append((f"Processor with {size['extensions']:,} configured extensions",
                     f"RSS {size['rss_mb']} MB · join p99 {join.get('p99_ms')} ms · change visible p99 "
                     f"{change.get('p99_ms')} ms", f"table recovered in {size['ready_s']} s; join p50 "
                     f"{join.get('p50_ms')} ms; {change['seen']}/{change['changes']} changes seen"))
    return rows


def _destinations(r: dict[str, Any]) -> list[Row]:
    """pyreqwest (default LRU) / aiohttp side by side per host count; then pyreqwest with an LRU above it."""
    lru = r["default_max_destinations"]
    default = {c["case"]["hosts"]: c for c in r["cases"]
               if c["case"]["client"] == "pyreqwest" and c["case"]["max_destinations"] == lru}
    aiohttp = {c["case"]["hosts"]: c for c in r["cases"] if c["case"]["client"] == "aiohttp"}
    hosts = [h for h in r["hosts"] if h in default and h in aiohttp]

    def per_hosts(figure: str, unit: str = "") -> str:
        return " · ".join(f"{h:,}: {default[h][figure]:,} / {aiohttp[h][figure]:,}{unit}" for h in hosts)

    builds = ", ".join(f"{default[h]['host_setups_per_job']:g}" for h in hosts)
    rows = [(f"One worker, jobs spread over N destination hosts: pyreqwest (max_destinations {lru:,}; hosts past "
             f"it through aiohttp) / aiohttp "
             f"(median of {r['windows']} windows)", f"N = {per_hosts('jobs_per_s')} jobs/s",
             f"process CPU per job, N = {per_hosts('cpu_us_per_job', ' µs')}; pyreqwest clients built per job: "
             f"{builds}"),
            ("Worker RSS growth with N destination hosts: pyreqwest / aiohttp", f"N = {per_hosts('rss_growth_mb')} MB",
             "from before the worker started to the end of its last window")]
    for c in r["cases"]:
        if c["case"]["client"] == "pyreqwest" and c["case"]["max_destinations"] != lru:
            first = c["first_pass"]
            rows.append((f"pyreqwest with max_destinations {c['case']['max_destinations']:,}, "
                         f"{c['case']['hosts']:,} hosts", f"{c['jobs_per_s']:,} jobs/s, RSS +{c['rss_growth_mb']} MB",
                         f"{c['cpu_us_per_job']:g} µs CPU per job once every host has its client; the first pass "
                         f"(building them) ran at {first['jobs_per_s']:,} jobs/s, {first['cpu_us_per_job']:g} µs "
                         f"per job, {first['s']} s"))
    failed = sum(c["not_delivered"] for c in r["cases"])
    if failed:
        rows.append(("Attempts not delivered during the destinations benchmark", f"**{failed:,}**",
                     "the rates above include them: see destinations.json"))
    return rows


def _delivery_log(r: dict[str, Any]) -> list[Row]:
    sink, cores = r["sink"], r["sink"]["cores"]
    return [(f"Delivery-log sink draining a backlog into PostgreSQL (median of {len(r['rounds'])})",
             f"**{r['median_rows_per_s']:,} attempts/s**",
             f"CPU per row: sink {sink['sink_cpu_us_per_row']} µs, PostgreSQL {sink['postgresql_cpu_us_per_row']} µs;"
             f" cores: sink {cores['sink']}, PostgreSQL {cores['postgresql']}, machine {cores['machine_busy']} of "
             f"{cores['machine_cores']}; runs {', '.join(f'{x:,}' for x in r['rounds'])}; batches of "
             f"{r['batch_records']:,}")]


def _dlq_tools(r: dict[str, Any]) -> list[Row]:
    small, large = r["sizes"][0], r["sizes"][-1]
    names = {"list_json": "`dlq list --json`", "list_table": "`dlq list` (table)", "redrive": "`dlq redrive`"}
    return [(f"{names[tool]} over a DLQ of {large['letters']:,} letters",
             f"**{large[tool]['letters_per_s']:,} letters/s**, {large[tool]['peak_rss_mb']} MB peak",
             f"{large[tool]['s']} s; at {small['letters']:,} letters: {small[tool]['peak_rss_mb']} MB peak")
            for tool in names]


SECTIONS = {"delivery": _delivery, "e2e": _e2e, "latency": _latency, "scaling": _scaling, "isolation": _isolation,
            "config_scale": _config, "destinations": _destinations,
            "delivery_log": _delivery_log, "dlq_tools": _dlq_tools}


def write_summary(out: Path, charts: list[Path]) -> Path:
    results = load(out)
    lines = ["| benchmark | result | notes |", "|---|---|---|"]
    for name, section in SECTIONS.items():
        if name in results:
            lines += [f"| {a} | {b} | {c} |" for a, b, c in section(results[name])]
    envs = {caption(r["environment"], with_time=False) for r in results.values()}
    modes = sorted({r.get("mode", "?") for r in results.values()})
    times = sorted(r["environment"]["at"] for r in results.values())
    text = ["# Benchmark results", "", f"Generated by `callapi-events bench` ({', '.join(modes)} run); do not edit.",
            "", *lines, "", *(f"- Measured on: {env}" for env in sorted(envs)),
            f"- Between {times[0]} and {times[-1]} (UTC); the machine was shared with other work.", "",
            *(f"![{path.stem}]({path.name})" for path in charts), ""]
    path = out / "summary.md"
    path.write_text("\n".join(text))
    return path
