"""Commands of the delivery workers: `deliver` and `dlq list|show|redrive`."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from schemas.hints import LISTEN_ANY
from schemas.letter_tools import (
    console,
    found,
    kafka_unreachable,
    list_letters,
    notices,
    one_line,
    redrive_and_report,
    refuse_unfiltered,
)
from schemas.settings import Settings

if TYPE_CHECKING:
    from delivery.dlq import DeadLetter, Filters
    from schemas.letter_tools import Reading

dlq_app = typer.Typer(help="Dead letters on deliveries.dlq: list them, show one, put them back on deliveries. "
                      "`dlq events` does the same for call-events.dlq (events the processor could not use).")

HOST = typer.Option("127.0.0.1", help=f"Address of the /healthz, /readyz and /metrics endpoint. {LISTEN_ANY}")
PORT = typer.Option(9102, help="Port of the ops endpoint (0 picks a free one).")
TENANT = typer.Option(None, "--tenant", help="Only this tenant (organization code, e.g. 0003).")
EXTENSION = typer.Option(None, "--extension", help="Only this extension (0003*210 or 0003210).")
REQUEST = typer.Option(None, "--request-id", help="Only this Request ID.")
SINCE = typer.Option(None, "--since", help="Dead-lettered at or after this time: ISO with a zone (e.g. "
                                           "2026-11-27T10:00:00Z) or a duration ago (90m, 2h, 1d).")
UNTIL = typer.Option(None, "--until", help="Dead-lettered before this time (same forms as --since).")
LIMIT = typer.Option(200, "--limit", min=0, help="Rows shown in the table (the oldest); the summary counts every "
                                                 "match, and --json lists every one.")


def deliver(host: str = HOST, port: int = PORT) -> None:
    """Run a delivery worker: deliveries and its retry topics → HTTP notifications (run as many as you like)."""
    import uvloop
    from aiokafka.errors import KafkaConnectionError

    from delivery.worker import run_worker
    from schemas.collector import DELIVERY_YOUNG_THRESHOLD, collect_less_often

    settings = Settings()
    collect_less_often(DELIVERY_YOUNG_THRESHOLD)
    try:
        uvloop.run(run_worker(settings, host=host, port=port))
    except KafkaConnectionError:
        kafka_unreachable(settings)


def deliver_main() -> None:
    from schemas.help_text import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run(deliver)


def _when(text: str | None, *, now: datetime) -> datetime | None:
    from schemas.durations import parse_when

    return None if text is None else parse_when(text, now=now)


def _filters(tenant: str | None, extension: str | None, request_id: str | None, since: str | None,
             until: str | None, job_id: str | None = None) -> Filters:
    from delivery.dlq import Filters

    try:
        now = datetime.now(UTC)
        return Filters(tenant, extension, request_id, job_id, _when(since, now=now), _when(until, now=now))
    except ValueError as error:  # a malformed --tenant, --extension, --since or --until
        notices.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


def _dead_letters(filters: Filters) -> Reading[DeadLetter]:
    from delivery.dlq import dead_letters

    return lambda progress, unavailable: dead_letters(Settings(), filters, progress=progress, unavailable=unavailable)


def _as_dict(letter: DeadLetter) -> dict[str, Any]:
    job = letter.job
    return {"where": letter.where, "dead_at": letter.dead_at.isoformat(), "error": letter.error,
            "job_id": job.job_id if job else None, "extension": job.extension if job else None,
            "request_id": job.request_id if job else None, "attempt": job.attempt if job else None,
            "redriven_at": letter.redriven_at.isoformat() if letter.redriven_at else None}


def _row(letter: DeadLetter) -> list[str]:
    job = letter.job
    return [_time(letter.dead_at), letter.where, job.job_id if job else "(unreadable)", job.extension if job else "",
            job.request_id if job else "", str(job.attempt) if job else "", one_line(letter.error),
            _time(letter.redriven_at)]


def _time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@dlq_app.command("list")
def dlq_list(tenant: str | None = TENANT, extension: str | None = EXTENSION, request_id: str | None = REQUEST,
             since: str | None = SINCE, until: str | None = UNTIL, limit: int = LIMIT,
             as_json: bool = typer.Option(False, "--json", help="Every match, one JSON object per line.")) -> None:
    """List dead letters (oldest first) with their last error."""
    from rich.table import Column, Table

    table = Table("dead at", "where", Column("job id", no_wrap=True), "extension", "request", "attempts",
                  "last error", "redriven")  # the job id whole, even at 80 columns: `dlq show` takes it
    filters = _filters(tenant, extension, request_id, since, until)
    listed = list_letters(Settings().topics.deliveries_dlq, _dead_letters(filters), as_json=as_json, limit=limit,
                          as_dict=_as_dict, table=table, row=_row)
    if not as_json:
        unreadable = f" ({listed.stuck} unreadable, never redriven)" if listed.stuck else ""
        redrivable = listed.waiting > listed.stuck
        filtered = any((tenant, extension, request_id, since, until))  # unfiltered, redrive wants --yes
        again = "` with the same filters" if filtered else " --yes`"
        console.print(f"{listed}{unreadable}" + (f". `callapi-events dlq redrive{again} puts those back."
                                                 if redrivable else "."))


@dlq_app.command("show")
def dlq_show(job_id: str = typer.Argument(..., help="The job id (webhook-id, msg_…).")) -> None:
    """Print the job's dead letter as one JSON object, or, when the job was dead-lettered more than once, every one
    (oldest first) as one JSON array; signing secrets are redacted."""
    from delivery.dlq import redacted

    letters = found(Settings().topics.deliveries_dlq, _dead_letters(_filters(None, None, None, None, None, job_id)))
    if not letters:
        notices.print(f"No dead letter with job id {job_id}. `callapi-events dlq list` shows what there is.")
        raise typer.Exit(1)
    shown = [{"where": x.where, "dead_at": x.dead_at.isoformat(), "job": redacted(x.job)}
             for x in letters if x.job is not None]
    print(json.dumps(shown[0] if len(shown) == 1 else shown, indent=2))  # one document: json.load reads it too


@dlq_app.command("redrive")
def dlq_redrive(tenant: str | None = TENANT, extension: str | None = EXTENSION, request_id: str | None = REQUEST,
                since: str | None = SINCE, until: str | None = UNTIL,
                yes: bool = typer.Option(False, "--yes", help="Needed to redrive everything (no filter)."),
                again: bool = typer.Option(False, "--again", help="Also letters that were redriven before.")) -> None:
    """Put dead letters back on deliveries: to the request's current URL, method and secrets, with a fresh attempt
    budget and the same job id (webhook-id). Letters redriven before are left out (recorded in PostgreSQL), unless
    --again; those whose request was removed, is disabled or takes another event type now stay on the DLQ."""
    from delivery.dlq import HeldBack, redrive

    refuse_unfiltered(any((tenant, extension, request_id, since, until, yes)),
                      "--tenant/--extension/--request-id/--since/--until")
    reading = _dead_letters(_filters(tenant, extension, request_id, since, until))
    held = HeldBack()
    redrive_and_report(lambda progress, done: redrive(Settings(), reading(progress, None), again=again, done=done,
                                                      held=held),
                       went="job(s) back on deliveries",
                       skipped=lambda n: f"; {n - held.total} unreadable record(s) skipped{held.summary()}",
                       lister="callapi-events dlq list")


def register(app: typer.Typer) -> None:
    """Add this component's commands to the `callapi-events` app."""
    app.command("deliver")(deliver)
    app.add_typer(dlq_app, name="dlq")
