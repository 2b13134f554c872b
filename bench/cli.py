"""The `bench` command: measure the pipeline on this machine and write bench/results/."""

from __future__ import annotations

import typer

NAMES = ("delivery", "e2e", "latency", "scaling", "isolation", "config_scale", "destinations",
         "delivery_log", "dlq_tools")  # in the order they run


def bench(
    quick: bool = typer.Option(False, "--quick", help="Small sizes: finishes in under 5 minutes; results go to "
                               "bench/results/quick/ so a full run's figures are kept."),
    only: list[str] = typer.Option([], "--only", help=f"Run only this benchmark (repeatable): {', '.join(NAMES)}."),
) -> None:
    """Benchmark the pipeline against the running Kafka: one delivery worker against bare HTTP client loops,
    end-to-end throughput and its ceilings (bare Python client, wrk), latency under load, scaling, isolation
    from a hanging endpoint, config scale, one worker's rate as its jobs spread over many destination hosts, the
    delivery-log sink's rate into PostgreSQL, the dead-letter tools' time and memory on a large DLQ.

    Needs the local stack (`callapi-events stack up`), nginx and wrk. Writes JSON, PNG charts and summary.md
    to bench/results/ (bench/results/quick/ with --quick). A full run takes about 10 minutes on 2 cores.
    """
    from rich.console import Console

    from bench.run import run_benchmarks

    unknown = [name for name in only if name not in NAMES]
    if unknown:
        raise typer.BadParameter(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(NAMES)}",
                                 param_hint="--only")
    console = Console()
    for path in run_benchmarks(quick=quick, only=only, console=console):
        console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add `bench` to the `callapi-events` app."""
    app.command("bench")(bench)
