"""The probe command's console side: a live table of the probe's jobs, a summary, an exit code for monitors."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import typer
from rich.live import Live
from rich.table import Table

from schemas.consoles import drop_kafka_connection_errors, stderr_console, stdout_console
from schemas.hints import DATABASE_NEXT_STEP, KAFKA_NEXT_STEP, NOT_MIGRATED
from schemas.settings import Settings

if TYPE_CHECKING:
    from producers.probe import Probe

WHOLE_WIDTH = 10_000
"""Piped (a monitor's log, grep), rich would assume 80 columns and cut the title, the URLs and the Request IDs;
there the table takes the width its content needs (rich tables do not stretch to the console's width)."""

console = stdout_console()
if not console.is_terminal:
    console.width = WHOLE_WIDTH
notices = stderr_console()


def probe(
    extension: str = typer.Argument(..., help="The extension to probe (0003*210 or 0003210)."),
    event_type: str = typer.Option("dial-in", "--type", help="dial-in, dial-out, hangup, answer-in or answer-out."),
    timeout_s: float = typer.Option(60.0, "--timeout", min=1, help="Seconds to wait for every job to finish."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object (no live table)."),
) -> None:
    """Send one synthetic call event for an extension through the whole pipeline and follow it to each URL it
    configured, through the delivery log: shows every attempt as it happens.

    Exit 0 when every job was delivered, 1 when one failed or did not finish in time (a check for monitoring),
    2 for bad input. Receivers get an ordinary notification whose CallID starts with `probe.`.
    Needs processor, deliver and sink running against the same Kafka and PostgreSQL."""
    settings = Settings()
    done = _followed(settings, _planned(settings, extension, event_type), timeout_s=timeout_s, live=not as_json)
    if as_json:
        print(json.dumps(_result(done)))
    else:
        console.print(_verdict(done, timeout_s))
    raise typer.Exit(0 if done.delivered else 1)


def _planned(settings: Settings, extension: str, event_type: str) -> Probe:
    """The probe's event and the jobs it owes; bad input exits 2, nothing to follow or no PostgreSQL exits 1."""
    import psycopg

    from producers.probe import extension_exists, new_probe
    from schemas.events import EventType
    from schemas.extensions import canonical_extension

    try:
        number, kind = canonical_extension(extension), EventType.parse(event_type)
    except ValueError as error:
        notices.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    try:
        planned = new_probe(settings, number, kind)
        exists = bool(planned.jobs) or extension_exists(settings.database_url, number)
    except psycopg.OperationalError as error:
        notices.print(f"[red]Cannot reach PostgreSQL ({str(error).strip()}).[/red] {DATABASE_NEXT_STEP}")
        raise typer.Exit(1) from None
    except psycopg.errors.UndefinedTable:  # reachable, but not migrated (or another database)
        notices.print(NOT_MIGRATED)
        raise typer.Exit(1) from None
    if not exists:
        notices.print(f"There is no extension {number} in this database: check the number and CALLAPI_DATABASE_URL, "
                      "or create it with `callapi-events admin extension create`.")
        raise typer.Exit(1)
    if not planned.jobs:
        notices.print(f"Extension {number} has no enabled {kind.slug} request, so a {kind.slug} event sends "
                      "nothing. Add one (Control API or /ui/), or probe another --type.")
        raise typer.Exit(1)
    return planned


def _followed(settings: Settings, planned: Probe, *, timeout_s: float, live: bool) -> Probe:
    """The probe run to its end, shown live in a table (`live`); Kafka or PostgreSQL failing exits 1."""
    import psycopg
    from aiokafka.errors import KafkaConnectionError

    from producers.errors import DeliveryFailed, ProducerUnavailable
    from producers.probe import run_probe
    from schemas.topic_snapshot import TopicMissing

    drop_kafka_connection_errors()  # an unreachable broker is said below
    try:
        if not live:
            return asyncio.run(run_probe(settings, planned, timeout_s=timeout_s, on_change=lambda _: None))
        table = Live(console=console, auto_refresh=False)
        try:  # drawn from the first change on, once the topic is known: a missing one is said without a table
            done = asyncio.run(run_probe(settings, planned, timeout_s=timeout_s,
                                         on_change=lambda now: _draw(table, now)))
        finally:
            table.stop()  # does nothing when never started
        if not console.is_terminal:  # piped, rich ends the table without a newline: the verdict goes below it
            console.line()
        return done
    except (KafkaConnectionError, ProducerUnavailable, DeliveryFailed) as error:
        notices.print(f"[red]The probe event was not written to Kafka at {settings.kafka_bootstrap} ({error}):"
                      f"[/red] {KAFKA_NEXT_STEP}.")
        raise typer.Exit(1) from None
    except TopicMissing as error:
        notices.print(f"[red]The probe event was not written:[/red] {error}")
        raise typer.Exit(1) from None
    except psycopg.OperationalError as error:
        notices.print(f"[red]Cannot read the delivery log ({str(error).strip()}).[/red] {DATABASE_NEXT_STEP}")
        raise typer.Exit(1) from None


def _draw(live: Live, probe: Probe) -> None:
    live.start()  # once; later calls do nothing
    live.update(_table(probe), refresh=True)


def _table(probe: Probe) -> Table:
    title = f"probe {probe.event.event_id} ({probe.event.type.slug} for {probe.event.extension})"
    if probe.where:
        title += f", on call-events at {probe.where}"
    table = Table("request", "method", "url", "attempts", "last", "outcome", "after", title=title)
    for job in probe.jobs:
        last = job.attempts[-1] if job.attempts else None
        after = job.delivered_after_s(probe.event)
        table.add_row(job.request.id, job.request.method.name, job.request.url, str(len(job.attempts)),
                      (str(last.status_code) if last.status_code is not None else last.error or "") if last else "",
                      job.outcome.value if job.outcome else "waiting",
                      f"{after * 1000:,.0f} ms" if after is not None else "")
    return table


def _verdict(probe: Probe, timeout_s: float) -> str:
    if probe.delivered:
        return f"[green]Delivered to all {len(probe.jobs)} URL(s).[/green]"
    if probe.timed_out and not any(job.attempts for job in probe.jobs):
        return (f"[red]No attempt in the delivery log within {timeout_s:g} s.[/red] Check that processor, deliver "
                "and sink run on this Kafka and PostgreSQL (their /readyz) and keep up (callapi_consumer_lag), "
                "and that the relay published the extension's requests.")
    if probe.timed_out:
        return (f"[yellow]Not finished within {timeout_s:g} s[/yellow]: a job waits for a retry (see `last`); "
                "its attempts go on in the delivery log.")
    return "[red]Not delivered everywhere[/red]: see `last` for each URL that failed or disabled its request."


def _result(probe: Probe) -> dict[str, Any]:
    return {
        "event_id": probe.event.event_id, "type": probe.event.type.slug, "extension": probe.event.extension,
        "where": probe.where, "delivered": probe.delivered, "timed_out": probe.timed_out,
        "jobs": [{
            "request_id": job.request.id, "url": job.request.url, "job_id": job.job_id,
            "outcome": job.outcome.value if job.outcome else None,
            "delivered_after_s": job.delivered_after_s(probe.event),
            "attempts": [{"attempt": a.attempt, "outcome": a.outcome.value, "status_code": a.status_code,
                          "error": a.error, "attempted_at": a.attempted_at.isoformat()} for a in job.attempts],
        } for job in probe.jobs],
    }
