"""`callapi-events dlq events list|show|redrive`: the call events the processor dead-lettered."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from schemas.consoles import stderr_console, stdout_console
from schemas.settings import Settings

if TYPE_CHECKING:
    from processors.event_letters import EventLetter
    from schemas.letter_tools import Reading

console = stdout_console()
notices = stderr_console()
events_app = typer.Typer(help="Dead letters on call-events.dlq (events the processor could not use): list them, "
                              "show one, put them back on call-events once the cause is fixed.")

TENANT = typer.Option(None, "--tenant", help="Only this tenant (organization code, e.g. 0003).")
EXTENSION = typer.Option(None, "--extension", help="Only this extension (0003*210 or 0003210).")
REASON = typer.Option(None, "--reason", help="Only this reason: invalid_json, schema_invalid, too_large, "
                                             "key_mismatch, processing_error.")
SINCE = typer.Option(None, "--since", help="Dead-lettered at or after this time: ISO with a zone "
                                           "(2026-11-27T10:00:00Z) or a duration ago (90m, 2h, 1d).")
UNTIL = typer.Option(None, "--until", help="Dead-lettered before this time (same forms as --since).")
LIMIT = typer.Option(200, "--limit", min=0, help="Rows shown in the table (the oldest); the summary counts every "
                                                 "match, and --json lists every one.")


def _reading(tenant: str | None, extension: str | None, reason: str | None, since: str | None,
             until: str | None) -> Reading[EventLetter]:
    """The matching letters, once read (a malformed filter is refused at once)."""
    from processors.errors import ReplayError
    from processors.event_letters import EventLetterFilters, event_letters
    from processors.window import parse_when

    now = datetime.now(UTC)
    try:
        filters = EventLetterFilters(tenant, extension, reason,
                                     parse_when(since, now=now) if since is not None else None,
                                     parse_when(until, now=now) if until is not None else None)
    except (ValueError, ReplayError) as error:  # a malformed filter
        notices.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    return lambda progress, unavailable: event_letters(Settings(), filters, progress=progress,
                                                       unavailable=unavailable)


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode(errors="replace")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _summary(letter: EventLetter) -> dict[str, Any]:
    return {"where": letter.where, "dead_at": letter.dead_at.isoformat(), "reason": letter.reason,
            "detail": letter.detail, "came_from": letter.came_from, "extension": letter.extension,
            "event_id": letter.event_id, "cut": letter.cut,
            "redriven_at": letter.redriven_at.isoformat() if letter.redriven_at else None}


def _row(x: EventLetter) -> list[str]:
    from schemas.letter_tools import one_line

    return [_when(x.dead_at), x.where, x.reason + (" (cut)" if x.cut else ""), x.extension or "", x.event_id or "",
            x.came_from, one_line(x.detail)[:80], _when(x.redriven_at)]


@events_app.command("list")
def events_list(tenant: str | None = TENANT, extension: str | None = EXTENSION, reason: str | None = REASON,
                since: str | None = SINCE, until: str | None = UNTIL, limit: int = LIMIT,
                as_json: bool = typer.Option(False, "--json", help="Every match, one JSON object per line.")) -> None:
    """List dead-lettered call events (oldest first) with why each could not be used."""
    from rich.table import Table

    from schemas.letter_tools import list_letters

    table = Table("dead at", "where", "reason", "extension", "event id", "from", "detail", "redriven")
    listed = list_letters(Settings().topics.call_events_dlq, _reading(tenant, extension, reason, since, until),
                          as_json=as_json, limit=limit, as_dict=_summary, table=table, row=_row)
    if as_json:
        return
    cut = (f" ({listed.stuck} cut to fit the DLQ, not redrivable: the whole records are where 'from' says)"
           if listed.stuck else "")
    again = "` with the same filters" if any((tenant, extension, reason, since, until)) else " --yes`"  # redrive wants
    console.print(f"{listed}{cut}"
                  + (". `callapi-events dlq events show PARTITION:OFFSET` shows one; `callapi-events dlq events "
                     f"redrive{again} puts them back on call-events once the cause is fixed."
                     if listed.waiting > listed.stuck else "."))


@events_app.command("show")
def events_show(where: str = typer.Argument(..., help="The letter's PARTITION:OFFSET, as `list` shows it.")) -> None:
    """Print one dead letter as JSON: why, where from, its key and value (`value` when it is JSON, else
    `value_text`, or `value_base64` when it is not UTF-8)."""
    from processors.event_letters import event_letter_at
    from schemas.letter_tools import redrives_unknown, run_dlq_tool

    partition, offset = _place(where)
    letter = run_dlq_tool(event_letter_at(Settings(), partition, offset, unavailable=redrives_unknown))
    if letter is None:
        notices.print(f"No dead letter at {where} on {Settings().topics.call_events_dlq}. `callapi-events dlq "
                      "events list` shows what there is.")
        raise typer.Exit(1)
    data = {**_summary(letter), "key": _text(letter.key), **_value(letter.value)}
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _value(value: bytes | None) -> dict[str, Any]:
    """`value` parsed when it is JSON, else `value_text` when it is UTF-8 (what an invalid_json letter holds, shown
    as it was sent), else `value_base64`."""
    if value is None:
        return {"value": None}
    try:
        return {"value": json.loads(value)}
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        pass
    try:
        return {"value_text": value.decode()}
    except UnicodeDecodeError:
        return {"value_base64": base64.b64encode(value).decode()}


def _place(where: str) -> tuple[int, int]:
    partition, _, offset = where.strip().partition(":")
    if not (partition.isascii() and partition.isdigit() and offset.isascii() and offset.isdigit()):
        notices.print(f"[red]{where!r} is not PARTITION:OFFSET[/red], e.g. 3:1042 (the 'where' column of `list`)")
        raise typer.Exit(2)
    return int(partition), int(offset)


@events_app.command("redrive")
def events_redrive(tenant: str | None = TENANT, extension: str | None = EXTENSION, reason: str | None = REASON,
                   since: str | None = SINCE, until: str | None = UNTIL,
                   yes: bool = typer.Option(False, "--yes", help="Needed to redrive everything (no filter)."),
                   again: bool = typer.Option(False, "--again", help="Also letters that were redriven before.")
                   ) -> None:
    """Put dead-lettered call events back on call-events, as they were (same event id, so the same
    webhook-ids). Do it once the cause is fixed: an event that is still unusable comes back to the DLQ.
    Letters redriven before are left out (recorded in PostgreSQL), unless --again."""
    from processors.event_letters import redrive_events
    from schemas.letter_tools import redrive_and_report, refuse_unfiltered

    refuse_unfiltered(any((tenant, extension, reason, since, until, yes)),
                      "--reason/--tenant/--extension/--since/--until")
    reading = _reading(tenant, extension, reason, since, until)
    redrive_and_report(
        lambda progress, done: redrive_events(Settings(), reading(progress, None), again=again, done=done),
        went="event(s) back on call-events",
        skipped=lambda n: f"; {n} cut to fit the DLQ, skipped (the whole records are where `list` says they came "
                          "from)" if n else "",
        lister="callapi-events dlq events list")
