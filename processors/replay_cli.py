"""The replay command's console side: progress bar and summary around `processors.replay.replay`."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from processors.errors import ReplayInterrupted
from processors.replay import KafkaLost, ReplayReport, replay
from processors.window import ReplayFilter, Window, parse_when
from schemas.consoles import stderr_console, stdout_console
from schemas.interrupts import sigterm_as_ctrl_c
from schemas.settings import Settings


def run_replay(
    *, since: str, until: str, tenants: list[str], extensions: list[str], request_ids: list[str],
    from_deliveries: bool, dry_run: bool, as_json: bool,
) -> None:
    now = datetime.now(UTC)
    window = Window(parse_when(since, now=now), parse_when(until, now=now))
    wanted = ReplayFilter.of(tenants=tenants, extensions=extensions, request_ids=request_ids)
    settings = Settings()
    source = settings.topics.deliveries if from_deliveries else settings.topics.call_events
    console = stderr_console() if as_json else stdout_console()  # --json: stdout is the JSON
    report = ReplayReport(sent=not dry_run)
    try:
        with Progress(
            TextColumn("reading {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=True, disable=not console.is_interactive,  # piped: no bar, no blank line
        ) as bar:
            task = bar.add_task(source, total=None)
            asyncio.run(sigterm_as_ctrl_c(replay(
                settings, window, wanted, from_deliveries=from_deliveries, dry_run=dry_run, report=report,
                progress=lambda topic, done, total: _show(bar, task, topic, done, total),
            )))
    except (KeyboardInterrupt, asyncio.CancelledError, KafkaLost) as stop:
        if as_json:  # a script still learns what went
            print(_as_json(report, window, source, dry_run, hint=None, stopped=True))
        if isinstance(stop, KafkaLost):  # the environment: 1, as an unreachable Kafka at the start
            typer.echo(kafka_lost(report, source, settings), err=True)
            raise typer.Exit(1) from None
        raise ReplayInterrupted(interrupted(report, source, settings.topics.deliveries, dry_run)) from None
    hint = None
    if report.jobs == 0 and report.filters_found_in == "postgresql":
        hint = not_relayed_yet(source, settings.topics.event_requests)
    elif report.records_read == 0:  # the ranges reach a minute past --until: they may hold only later records
        hint = nothing_in(window, source, retention_h=settings.call_events_retention_h, now=now)
    if as_json:
        print(_as_json(report, window, source, dry_run, hint=hint, stopped=False))
    else:
        console.print(_summary(report, window, source, dry_run))
        if hint:
            console.print(hint)


def _as_json(report: ReplayReport, window: Window, source: str, dry_run: bool, *, hint: str | None,
             stopped: bool) -> str:
    return json.dumps({**asdict(report), "since": window.since.isoformat(), "until": window.until.isoformat(),
                       "source": source, "dry_run": dry_run, "hint": hint, "interrupted": stopped})


def _show(bar: Progress, task: TaskID, topic: str, done: int, total: int) -> None:
    """The bar of the topic being read: the config, then the window (a new topic starts the bar and its ETA over)."""
    if bar.tasks[task].description != topic:
        bar.reset(task, description=topic, total=total, completed=done)
    else:
        bar.update(task, completed=done, total=total)


def _summary(report: ReplayReport, window: Window, source: str, dry_run: bool) -> Table:
    table = Table(title="replay" + (" (dry run: nothing sent)" if dry_run else ""), show_header=False)
    table.add_row("window", f"{window.since:%Y-%m-%d %H:%M:%S} to {window.until:%Y-%m-%d %H:%M:%S} UTC")
    table.add_row("read from", source)
    if report.partitions_read is not None:
        table.add_row("partitions read", f"{len(report.partitions_read)} of {report.partitions}")
    table.add_row("records in window", str(report.records_read))
    table.add_row("selected by the filters", str(report.selected))
    table.add_row("unreadable, skipped", str(report.skipped_invalid))
    table.add_row("jobs that would be sent" if dry_run else "jobs sent", str(report.jobs))
    return table


def nothing_in(window: Window, source: str, *, retention_h: int, now: datetime) -> str:
    """What to check when the window holds no record at all."""
    if window.since < now - timedelta(hours=retention_h):
        return (f"Nothing on {source} in this window: the topic keeps records {retention_h} h "
                "(CALLAPI_CALL_EVENTS_RETENTION_H), so older ones may be deleted already.")
    return (f"Nothing on {source} in this window: check --since and --until (record times, UTC), and "
            "CALLAPI_TOPIC_PREFIX.")


def not_relayed_yet(source: str, event_requests: str) -> str:
    """What to check when the filters were accepted on PostgreSQL's word alone and select no recorded job."""
    return (f"0 jobs: the control plane's PostgreSQL knows the filters' values ({event_requests} was not read), "
            f"but no job on {source} in this window matches them. Requests this prefix's {event_requests} does not "
            "hold yet (relay lag, or no relay for this CALLAPI_TOPIC_PREFIX) made no job: check that "
            "`callapi-events relay` runs with this prefix (callapi_relay_lag_seconds), then --since and --until "
            "(record times, UTC).")


def interrupted(report: ReplayReport, source: str, target: str, dry_run: bool) -> str:
    """What an interrupted replay did, and what to do next."""
    return (f"replay interrupted: {_done(report, source, target, dry_run)}. Run the same command again to replay the "
            "whole window (receivers dedupe by webhook-id).")


def kafka_lost(report: ReplayReport, source: str, settings: Settings) -> str:
    """What a replay whose broker stopped answering did, and what to do next."""
    return (f"replay stopped: Kafka at {settings.kafka_bootstrap} did not answer within "
            f"{settings.producer_request_timeout_ms / 1000:g} s (CALLAPI_PRODUCER_REQUEST_TIMEOUT_MS); "
            f"{_done(report, source, settings.topics.deliveries, dry_run=not report.sent)}. Run the same command "
            "again once Kafka answers (check CALLAPI_KAFKA_BOOTSTRAP) to replay the whole window (receivers dedupe "
            "by webhook-id).")


def _done(report: ReplayReport, source: str, target: str, dry_run: bool) -> str:
    went = (f"{report.jobs} job(s) counted, nothing sent (dry run)" if dry_run
            else f"{report.jobs_sent} job(s) sent to {target}")
    if report.jobs_unconfirmed:
        went += f", {report.jobs_unconfirmed} more unconfirmed (Kafka may hold some of them)"
    if report.window_records is None:
        return f"{went}; the window on {source} was not read yet"
    left = report.window_records - report.records_scanned
    return (f"{went}; {report.records_scanned} of the window's {report.window_records} record(s) on {source} read, "
            f"{left} left")
