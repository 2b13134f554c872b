"""What the demo shows: the live counters, the summary table and the latency chart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from producers.demo.receiver import DemoReceiver, Sample, percentile


@dataclass(frozen=True)
class Snapshot:
    produced: int
    jobs: int
    delivered: int
    retried: int
    failed: int
    received: int
    accepted: int
    p50_ms: float | None
    p99_ms: float | None


def snapshot(*, produced: int, processor: dict[str, dict[str, float]], deliver: dict[str, dict[str, float]],
             receiver: DemoReceiver) -> Snapshot:
    attempts = deliver.get("callapi_delivery_attempts_total", {})
    p50, p99 = receiver.latency_percentile(50), receiver.latency_percentile(99)
    return Snapshot(
        produced=produced,
        jobs=int(sum(processor.get("callapi_processor_jobs_total", {}).values())),
        delivered=int(attempts.get("delivered", 0)),
        retried=int(attempts.get("retry", 0)),
        failed=int(attempts.get("dead_letter", 0) + attempts.get("disable", 0)),
        received=receiver.received,
        accepted=receiver.accepted,
        p50_ms=None if p50 is None else p50 * 1000,
        p99_ms=None if p99 is None else p99 * 1000,
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def live_table(shot: Snapshot, *, phase: str) -> Table:
    table = Table(title=f"CallAPI Events demo: {phase}", min_width=60)
    for name in ("produced", "jobs", "delivered", "retried", "failed", "p50", "p99"):
        table.add_column(name, justify="right")
    table.add_row(str(shot.produced), str(shot.jobs), str(shot.delivered), str(shot.retried), str(shot.failed),
                  _ms(shot.p50_ms), _ms(shot.p99_ms))
    return table


def summary_table(shot: Snapshot, *, elapsed_s: float) -> Table:
    table = Table(title=f"Demo summary ({elapsed_s:.0f} s)")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("events produced (acknowledged by Kafka)", str(shot.produced)),
        ("delivery jobs (processor)", str(shot.jobs)),
        ("delivered (delivery workers)", str(shot.delivered)),
        ("retried attempts", str(shot.retried)),
        ("failed (dead-lettered or disabled)", str(shot.failed)),
        ("received by the demo receiver", str(shot.received)),
        ("accepted by the demo receiver (2xx)", str(shot.accepted)),
        ("latency p50 (event → notification)", _ms(shot.p50_ms)),
        ("latency p99", _ms(shot.p99_ms)),
    ]
    for what, count in rows:
        table.add_row(what, count)
    return table


def latency_chart(samples: list[Sample], path: Path) -> Path:
    """A PNG of each notification's latency over the run, with the p50 and p99 of each second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=110)
    axes.scatter([s.at_s for s in samples], [s.latency_s * 1000 for s in samples], s=6, alpha=0.4,
                 label="notification")
    seconds = sorted({int(s.at_s) for s in samples})
    for q, style in ((50, "-"), (99, "--")):
        values = [percentile([s.latency_s * 1000 for s in samples if int(s.at_s) == sec], q) or 0.0
                  for sec in seconds]
        axes.plot([sec + 0.5 for sec in seconds], values, style, label=f"p{q} per second")
    axes.set_xlabel("seconds since the traffic started")
    axes.set_ylabel("latency: event → notification (ms)")
    axes.set_yscale("log")
    axes.set_title("CallAPI Events demo: delivery latency")
    axes.legend(loc="upper right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path.resolve()
