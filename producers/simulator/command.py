"""The `simulate` command's work: optional provisioning, the paced run with a progress bar, the summary."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from producers.sdk import CallEventProducer
from producers.simulator.generator import Plan, Timeline
from producers.simulator.provision import ProvisionReport, provision
from producers.simulator.runner import RunStats, run
from schemas.consoles import quiet_http_client
from schemas.events import EventType
from schemas.settings import Settings

PROGRESS_EVERY_S = 0.1


def summary_table(stats: RunStats) -> Table:
    table = Table(title=f"Simulated events ({stats.elapsed_s:.1f} s)")
    for column in ("type", "sent", "acknowledged", "failed"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for event_type in EventType:
        slug = event_type.slug
        table.add_row(slug, str(stats.sent[slug]), str(stats.acked[slug]), str(stats.failed[slug]))
    total = sum(stats.sent.values())
    table.add_row("total", str(total), str(stats.total_acked), str(stats.total_failed), style="bold")
    return table


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), console=console, transient=False,
    )


async def simulate(
    timeline: Timeline, *, settings: Settings, start: datetime | None, count: int | None, duration_s: float | None,
    linger_ms: int | None, console: Console, stats: RunStats,
) -> RunStats:
    """Send the timeline's events from `start`, by default the moment the producer is connected (taken earlier,
    the events due while it connects would go at once), counting into `stats`. TopicMissing when `call-events`
    does not exist."""
    total = count if count is not None else int(duration_s or 0)
    async with CallEventProducer(settings=settings, linger_ms=linger_ms, client_id="callapi-simulator") as producer:
        await producer.require_topic()
        start = start or datetime.now(UTC)
        seed = timeline.plan.seed
        console.print(f"seed {seed}, start {start.isoformat()} (rerun with --seed {seed} --start {start.isoformat()})")
        return await _send_with_progress(timeline, producer, start=start, count=count, total=total, console=console,
                                         duration_s=duration_s, stats=stats)


async def _send_with_progress(timeline: Timeline, producer: CallEventProducer, *, start: datetime, count: int | None,
                              total: int, duration_s: float | None, console: Console, stats: RunStats) -> RunStats:
    with _progress(console) as progress:
        task = progress.add_task("simulating", total=total, info="")
        loop = asyncio.get_running_loop()
        began = shown_at = loop.time()

        def on_event(stats: RunStats, *, last: bool = False) -> None:
            nonlocal shown_at
            now = loop.time()
            if now - shown_at < PROGRESS_EVERY_S and not last:
                return  # at thousands of events/s, redrawing for each would cost more than making it
            shown_at, elapsed_s = now, now - began
            sent = sum(stats.sent.values())
            rate = sent / elapsed_s if elapsed_s > 0 else 0.0
            done = sent if count is not None else min(total, int(elapsed_s))
            progress.update(task, completed=done, info=f"{sent} sent · {stats.total_acked} acked · "
                            f"{stats.total_failed} failed · {rate:,.0f}/s")

        await run(timeline, producer=producer, start=start, count=count, duration_s=duration_s, on_event=on_event,
                  stats=stats)
        on_event(stats, last=True)
    return stats


async def provision_with_progress(
    plan: Plan, *, settings: Settings, api_url: str, receiver_url: str, credentials: tuple[str, str] | None,
    console: Console,
) -> ProvisionReport:
    quiet_http_client()
    population = plan.population()
    steps = 2 * len(population.extensions)
    with _progress(console) as progress:
        task = progress.add_task("provisioning", total=steps, info=f"{len(population.tenants)} organizations")
        advance: Callable[[], None] = lambda: progress.advance(task)  # noqa: E731
        report = await provision(population, database_url=settings.database_url, api_url=api_url,
                                 receiver_url=receiver_url, credentials=credentials, advance=advance)
    console.print(
        f"provisioned: {report.organizations_created} organizations, {report.extensions_created} extensions and "
        f"{report.requests_created} requests created ({report.requests_existing} requests were already there)"
    )
    return report
