"""Results on disk: one JSON per benchmark (with the machine, versions and settings), PNG charts drawn from
those files, and a markdown summary table. Nothing here is edited by hand: rerun `callapi-events bench`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.cli import NAMES
from bench.machine import caption

RESULTS = Path(__file__).parent / "results"


def write(out: Path, name: str, data: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def load(out: Path) -> dict[str, dict[str, Any]]:
    return {name: json.loads((out / f"{name}.json").read_text()) for name in NAMES if (out / f"{name}.json").exists()}


def _foot(fig: Any, env: dict[str, Any], note: str) -> None:
    fig.text(0.01, 0.01, f"{caption(env)}\n{note}", fontsize=7, va="bottom", ha="left", wrap=True)


def latency_chart(out: Path, result: dict[str, Any]) -> Path:
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for level in result["levels"]:
        bins = level["over_time"]
        times = [b["t_s"] for b in bins]
        label = (f"{level['achieved_eps']} events/s ({level['share_of_saturation']:.0%} of saturation): "
                 f"p50 {level['p50_ms']} ms, p99 {level['p99_ms']} ms")
        (line,) = ax.plot(times, [b["p50_ms"] for b in bins], "-", label=label)
        ax.plot(times, [b["p99_ms"] for b in bins], "--", color=line.get_color(), alpha=0.7)
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the level started (solid: p50 of each second's arrivals, dashed: p99)")
    ax.set_ylabel("occurred_at → sink receipt (ms, log scale)")
    ax.set_title("End-to-end notification latency under load (1 processor, 1 delivery worker, nginx 204)")
    ax.legend(fontsize=8)
    fig.subplots_adjust(bottom=0.2)
    _foot(fig, result["environment"], f"saturation measured in the same run: {result['saturation_eps']} events/s")
    path = out / "latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def throughput_chart(out: Path, results: dict[str, dict[str, Any]]) -> Path | None:
    e2e = results.get("e2e")
    if e2e is None:
        return None
    bars = [("end to end\n(1 processor, 1 worker)", e2e["end_to_end"]["per_s"])]
    if "delivery" in results:
        bars.append(("delivery x1\n(backlog, median)", results["delivery"]["worker"]["jobs_per_s"]))
    scaling = results.get("scaling")
    if scaling is not None:
        bars += [(f"processor x{p['processors']}\n(stage alone)", p["per_s"]) for p in scaling["processors"]]
        bars += [(f"delivery x{w['workers']}\n(stage alone)", w["per_s"]) for w in scaling["delivery_workers"]]
    bars += [(f"bare {e2e['fastest_bare_client']['client']}\nloop", e2e["fastest_bare_client"]["requests_per_s"]),
             ("wrk (C)", e2e["wrk_per_s"])]
    fig, ax = plt.subplots(figsize=(10, 5.5))
    labels, values = zip(*bars, strict=True)
    ax.bar(labels, values, color=["#2a6f97"] + ["#6c757d"] * (len(bars) - 3) + ["#e09f3e", "#9e2a2b"])
    ax.set_yscale("log")
    ax.set_ylabel("notifications (requests) per second, log scale")
    ax.set_title(f"Throughput against nginx returning 204 (concurrency {e2e['concurrency']}); "
                 f"end to end / bare client = {e2e['ratio_to_bare_client']}")
    for index, value in enumerate(values):
        ax.text(index, value, f"{value:,}", ha="center", va="bottom", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    fig.subplots_adjust(bottom=0.25)
    _foot(fig, e2e["environment"], "stage-alone bars: bench/scaling.py (backlog drained by that stage only)")
    path = out / "throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def charts(out: Path) -> list[Path]:
    results = load(out)
    paths = []
    if "latency" in results:
        paths.append(latency_chart(out, results["latency"]))
    throughput = throughput_chart(out, results)
    if throughput is not None:
        paths.append(throughput)
    return paths
