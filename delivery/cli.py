"""Commands of the delivery workers: `deliver` and `dlq list|show|redrive`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from schemas.hints import DATABASE_NEXT_STEP, KAFKA_NEXT_STEP
from schemas.settings import Settings

if TYPE_CHECKING:
    from rich.table import Table

    from delivery.dlq import DeadLetter

console = Console()
notices = Console(stderr=True)  # errors and warnings: stdout stays the listing (JSON with --json)
L = TypeVar("L")
dlq_app = typer.Typer(help="Dead letters on deliveries.dlq: list them, show one, put them back on deliveries.")

HOST = typer.Option("127.0.0.1", help="Address of the /healthz, /readyz and /metrics endpoint.")
PORT = typer.Option(9102, help="Port of the ops endpoint (0 picks a free one).")
TENANT = typer.Option(None, "--tenant", help="Only this tenant (organization code, e.g. 0003).")
EXTENSION = typer.Option(None, "--extension", help="Only this extension (0003*210 or 0003210).")
REQUEST = typer.Option(None, "--request-id", help="Only this Request ID.")
SINCE = typer.Option(None, "--since", help="Dead-lettered at or after this ISO time (UTC if no zone).")
UNTIL = typer.Option(None, "--until", help="Dead-lettered before this ISO time (UTC if no zone).")


def deliver(host: str = HOST, port: int = PORT) -> None:
    """Run a delivery worker: deliveries and its retry topics → HTTP notifications (run as many as you like)."""
    import uvloop
    from aiokafka.errors import KafkaConnectionError

    from delivery.worker import run_worker, tune_garbage_collector

    settings = Settings()
    tune_garbage_collector()
    try:
        uvloop.run(run_worker(settings, host=host, port=port))
    except KafkaConnectionError:
        _kafka_unreachable(settings)


def _kafka_unreachable(settings: Settings) -> NoReturn:
    notices.print(f"[red]Cannot reach Kafka at {settings.kafka_bootstrap}:[/red] {KAFKA_NEXT_STEP}.")
    raise typer.Exit(1)


def deliver_main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    typer.run(deliver)


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        notices.print(f"[red]{text!r} is not an ISO time[/red], e.g. 2026-11-27T10:00:00Z")
        raise typer.Exit(2) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _letters(tenant: str | None, extension: str | None, request_id: str | None, since: str | None,
             until: str | None, job_id: str | None = None, *, redrives_needed: bool = False) -> list[DeadLetter]:
    """The matching letters, with when each was redriven (see `letters_with_redrives`)."""
    from delivery.dlq import Filters, read_dead_letters, with_redrives

    settings = Settings()
    try:
        filters = Filters(tenant, extension, request_id, job_id, _when(since), _when(until))
    except ValueError as error:  # a malformed --tenant or --extension
        notices.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    return letters_with_redrives(settings, read_dead_letters(settings, filters), with_redrives,
                                 redrives_needed=redrives_needed)


def letters_with_redrives(settings: Settings, reading: Coroutine[Any, Any, list[L]],
                          with_redrives: Callable[[Settings, list[L]], Coroutine[Any, Any, list[L]]], *,
                          redrives_needed: bool) -> list[L]:
    """A DLQ's letters (`reading`), then when each was redriven; every failure said with what to do next.
    Without PostgreSQL that last part is unknown, which only a redrive cannot accept."""
    from aiokafka.errors import KafkaConnectionError

    from delivery.redrives import RedrivesUnavailable
    from schemas.topic_snapshot import TopicMissing

    try:
        letters = asyncio.run(reading)
    except KafkaConnectionError:
        _kafka_unreachable(settings)
    except TopicMissing as error:
        notices.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    try:
        return asyncio.run(with_redrives(settings, letters))
    except RedrivesUnavailable as error:
        if redrives_needed:
            notices.print(f"[red]{error}.[/red] {DATABASE_NEXT_STEP}")
            raise typer.Exit(1) from None
        notices.print(f"[yellow]{error}: which letters were redriven is not shown.[/yellow]")
        return letters


@dlq_app.command("list")
def dlq_list(tenant: str | None = TENANT, extension: str | None = EXTENSION, request_id: str | None = REQUEST,
             since: str | None = SINCE, until: str | None = UNTIL,
             as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """List dead letters (oldest first) with their last error."""
    from rich.table import Column, Table

    letters = _letters(tenant, extension, request_id, since, until)
    if as_json:
        for x in letters:
            job = x.job
            print(json.dumps({"where": x.where, "dead_at": x.dead_at.isoformat(), "error": x.error,
                              "job_id": job.job_id if job else None, "extension": job.extension if job else None,
                              "request_id": job.request_id if job else None, "attempt": job.attempt if job else None,
                              "redriven_at": x.redriven_at.isoformat() if x.redriven_at else None}))
        return
    table = Table("dead at", "where", Column("job id", no_wrap=True), "extension", "request", "attempts",
                  "last error", "redriven")  # the job id whole, even at 80 columns: `dlq show` takes it
    for x in letters:
        job = x.job
        table.add_row(x.dead_at.strftime("%Y-%m-%d %H:%M:%S"), x.where, job.job_id if job else "(unreadable)",
                      job.extension if job else "", job.request_id if job else "", str(job.attempt) if job else "",
                      x.error, x.redriven_at.strftime("%Y-%m-%d %H:%M:%S") if x.redriven_at else "")
    print_whole(table)
    waiting = sum(1 for x in letters if x.redriven_at is None)
    console.print(f"{len(letters)} dead letter(s), {waiting} not redriven yet"
                  + (". `callapi-events dlq redrive` with the same filters puts those back." if waiting else "."))


def print_whole(table: Table) -> None:
    """Piped (to grep, a file), the table as wide as its rows: not cut to the 80 columns assumed there."""
    from rich.measure import Measurement

    if console.is_terminal:
        console.print(table)
    else:
        Console(width=Measurement.get(console, console.options.update_width(10_000), table).maximum).print(table)


@dlq_app.command("show")
def dlq_show(job_id: str = typer.Argument(..., help="The job id (webhook-id, msg_…).")) -> None:
    """Print every dead letter of one job as JSON; signing secrets are redacted."""
    from delivery.dlq import redacted

    letters = _letters(None, None, None, None, None, job_id=job_id)
    if not letters:
        notices.print(f"No dead letter with job id {job_id}. `callapi-events dlq list` shows what there is.")
        raise typer.Exit(1)
    for x in letters:
        assert x.job is not None
        print(json.dumps({"where": x.where, "dead_at": x.dead_at.isoformat(), "job": redacted(x.job)}, indent=2))


@dlq_app.command("redrive")
def dlq_redrive(tenant: str | None = TENANT, extension: str | None = EXTENSION, request_id: str | None = REQUEST,
                since: str | None = SINCE, until: str | None = UNTIL,
                yes: bool = typer.Option(False, "--yes", help="Needed to redrive everything (no filter)."),
                again: bool = typer.Option(False, "--again", help="Also letters that were redriven before.")) -> None:
    """Put dead letters back on deliveries: a fresh attempt budget, the same job id (webhook-id). Letters
    redriven before are left out (recorded in PostgreSQL), unless --again."""
    from delivery.dlq import redrive

    if not any((tenant, extension, request_id, since, until, yes)):
        notices.print("No filter given: add --tenant/--extension/--request-id/--since/--until, or --yes for all.")
        raise typer.Exit(2)
    letters = _letters(tenant, extension, request_id, since, until, redrives_needed=True)
    chosen = [x for x in letters if again or x.redriven_at is None]
    sent, done = redrive_with_progress(len(chosen), lambda advance: redrive(Settings(), chosen, progress=advance))
    if sent is None:
        went = sum(1 for x in chosen[:done] if x.job is not None)
        console.print(f"Interrupted: {went} job(s) back on deliveries and recorded as redriven; "
                      f"{len(chosen) - done} letter(s) not redriven. Run the same command again for the rest "
                      "(those redriven are left out).")
        raise typer.Exit(130)
    unreadable = len(chosen) - sent
    before = len(letters) - len(chosen)
    console.print(f"{sent} job(s) back on deliveries; {unreadable} unreadable record(s) skipped"
                  + (f"; {before} redriven before, left out (--again sends them too)." if before else "."))


def redrive_with_progress(letters: int, run: Callable[[Callable[[], None]], Coroutine[Any, Any, int]],
                          ) -> tuple[int | None, int]:
    """Run a redrive (`run(advance)`, advance once per letter done) under a progress bar: how many records
    went (None when Ctrl-C stopped it, after the chunk in flight) and how many letters were done."""
    from rich.progress import Progress

    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        progress.advance(task)

    try:
        with Progress(console=console) as progress:
            task = progress.add_task("redriving", total=letters)
            return asyncio.run(run(advance)), done
    except KeyboardInterrupt:
        return None, done


def register(app: typer.Typer) -> None:
    """Add this component's commands to the `callapi-events` app."""
    app.command("deliver")(deliver)
    app.add_typer(dlq_app, name="dlq")
