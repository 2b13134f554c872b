"""What `callapi-events topics forget-old-copies` prints: the reading's progress, then what was found and written."""

from __future__ import annotations

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from rich.console import Console
from rich.table import Table

from deploy.old_copies import ForgetRefused, ForgetReport, forget_old_copies, utc_text
from deploy.steps import run_in_steps
from schemas.consoles import drop_kafka_connection_errors, quiet_kafka_client
from schemas.durations import parse_duration_s
from schemas.hints import KAFKA_NEXT_STEP
from schemas.settings import Settings

TABLE_UP_TO = 24  # partitions listed one per row; more are summed up


def run_forget(settings: Settings, settle: str, *, dry_run: bool, console: Console, notices: Console) -> None:
    try:
        settle_s = parse_duration_s(settle)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--settle") from None
    quiet_kafka_client()
    drop_kafka_connection_errors()  # an unreachable broker is said below
    try:
        report = run_in_steps(notices, lambda step, progress: forget_old_copies(
            settings, settle_s=settle_s, dry_run=dry_run, step=step, progress=progress))
    except ForgetRefused as error:
        notices.print(f"[red]topics forget-old-copies refused:[/red] {error}. Nothing was written.")
        raise typer.Exit(2) from None
    except KafkaConnectionError:
        notices.print(f"[red]Cannot reach Kafka at {settings.kafka_bootstrap}:[/red] {KAFKA_NEXT_STEP}.")
        raise typer.Exit(1) from None
    except KafkaError as error:
        notices.print(f"[red]topics forget-old-copies stopped:[/red] {error!r}\nRun the same command again: the "
                      "tombstones already written are not written twice.")
        raise typer.Exit(1) from None
    print_report(report, settings, console, dry_run=dry_run)
    if report.waiting:
        notices.print(f"[yellow]{report.waiting} old cop(ies) kept:[/yellow] their extension moved less than "
                      f"--settle ago. Run again after {utc_text(report.run_again_ms)}.")
        raise typer.Exit(2)


def print_report(report: ForgetReport, settings: Settings, console: Console, *, dry_run: bool) -> None:
    topic = settings.topics.event_requests
    found, written = sum(report.found.values()), sum(report.written.values())
    if not found:
        console.print(f"read {report.records_read} record(s) of {topic}: no list is left on an old partition, "
                      "nothing to do.")
        return
    verb = "to write" if dry_run else "written"
    if len(report.found) <= TABLE_UP_TO:
        table = Table(title=f"old copies on {topic} ({report.partitions} partitions)")
        table.add_column("partition", justify="right")
        table.add_column("old copies", justify="right")
        table.add_column(f"tombstones {verb}", justify="right")
        for partition in sorted(report.found):
            table.add_row(str(partition), str(report.found[partition]), str(report.written.get(partition, 0)))
        console.print(table)
    console.print(f"read {report.records_read} record(s) of {topic}: {found} old cop(ies) on "
                  f"{len(report.found)} partition(s), {written} tombstone(s) {verb}"
                  + (" (--dry-run: nothing written)." if dry_run else
                     ". The processors drop those copies as they read them; compaction removes both."))
