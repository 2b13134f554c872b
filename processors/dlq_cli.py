"""`callapi-events dlq events list|show|redrive`: the call events the processor dead-lettered."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from schemas.settings import Settings

if TYPE_CHECKING:
    from processors.event_letters import EventLetter

console = Console()
notices = Console(stderr=True)  # errors, warnings and progress: stdout stays the listing (JSON with --json)
events_app = typer.Typer(help="Dead letters on call-events.dlq (events the processor could not use): list them, "
                              "show one, put them back on call-events once the cause is fixed.")

TENANT = typer.Option(None, "--tenant", help="Only this tenant (organization code, e.g. 0003).")
EXTENSION = typer.Option(None, "--extension", help="Only this extension (0003*210 or 0003210).")
REASON = typer.Option(None, "--reason", help="Only this reason: invalid_json, schema_invalid, too_large, "
                                             "key_mismatch, processing_error.")
SINCE = typer.Option(None, "--since", help="Dead-lettered at or after this time: ISO with a zone "
                                           "(2026-11-27T10:00:00Z) or a duration ago (90m, 2h, 1d).")
UNTIL = typer.Option(None, "--until", help="Dead-lettered before this time (same forms as --since).")


def _letters(tenant: str | None, extension: str | None, reason: str | None, since: str | None,
             until: str | None, *, redrives_needed: bool = False) -> list[EventLetter]:
    """The matching letters, with when each was redriven (see `letters_with_redrives`)."""
    from delivery.cli import letters_with_redrives
    from processors.errors import ReplayError
    from processors.event_letters import EventLetterFilters, read_event_letters, with_redrives
    from processors.window import parse_when

    settings = Settings()
    now = datetime.now(UTC)
    try:
        filters = EventLetterFilters(tenant, extension, reason,
                                     parse_when(since, now=now) if since is not None else None,
                                     parse_when(until, now=now) if until is not None else None)
    except (ValueError, ReplayError) as error:  # a malformed filter
        notices.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    with _reading(settings.topics.call_events_dlq) as progress:
        return letters_with_redrives(settings, read_event_letters(settings, filters, progress=progress),
                                     with_redrives, redrives_needed=redrives_needed)


@contextmanager
def _reading(topic: str) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar while the topic is read (a DLQ kept for weeks can be large)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn(f"reading {topic}"), BarColumn(), MofNCompleteColumn(), console=notices,
                  transient=True) as bar:
        task = bar.add_task("read", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode(errors="replace")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _summary(letter: EventLetter) -> dict[str, Any]:
    return {"where": letter.where, "dead_at": letter.dead_at.isoformat(), "reason": letter.reason,
            "detail": letter.detail, "came_from": letter.came_from, "extension": letter.extension,
            "event_id": letter.event_id, "cut": letter.cut,
            "redriven_at": letter.redriven_at.isoformat() if letter.redriven_at else None}


@events_app.command("list")
def events_list(tenant: str | None = TENANT, extension: str | None = EXTENSION, reason: str | None = REASON,
                since: str | None = SINCE, until: str | None = UNTIL,
                as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """List dead-lettered call events (oldest first) with why each could not be used."""
    from rich.table import Table

    from delivery.cli import print_whole

    letters = _letters(tenant, extension, reason, since, until)
    if as_json:
        for letter in letters:
            print(json.dumps(_summary(letter)))
        return
    table = Table("dead at", "where", "reason", "extension", "event id", "from", "detail", "redriven")
    for x in letters:
        table.add_row(_when(x.dead_at), x.where, x.reason + (" (cut)" if x.cut else ""), x.extension or "",
                      x.event_id or "", x.came_from, x.detail[:80], _when(x.redriven_at))
    print_whole(table)
    waiting = [x for x in letters if x.redriven_at is None]
    cut = sum(1 for x in waiting if x.cut)
    console.print(f"{len(letters)} dead letter(s), {len(waiting)} not redriven yet"
                  + (f" ({cut} cut to fit the DLQ, not redrivable: the whole records are where 'from' says)"
                     if cut else "")
                  + (". `callapi-events dlq events show PARTITION:OFFSET` shows one; `callapi-events dlq events "
                     "redrive` with the same filters puts them back on call-events once the cause is fixed."
                     if waiting else "."))


@events_app.command("show")
def events_show(where: str = typer.Argument(..., help="The letter's PARTITION:OFFSET, as `list` shows it.")) -> None:
    """Print one dead letter as JSON: why, where from, its key and value (text, or base64 when not UTF-8)."""
    letter = next((x for x in _letters(None, None, None, None, None) if x.where == where.strip()), None)
    if letter is None:
        notices.print(f"No dead letter at {where} on call-events.dlq. `callapi-events dlq events list` shows "
                      "what there is.")
        raise typer.Exit(1)
    data = {**_summary(letter), "key": _text(letter.key)}
    try:
        data["value"] = None if letter.value is None else json.loads(letter.value)
    except (UnicodeDecodeError, ValueError):
        data["value_base64"] = base64.b64encode(letter.value or b"").decode()
    print(json.dumps(data, indent=2, ensure_ascii=False))


@events_app.command("redrive")
def events_redrive(tenant: str | None = TENANT, extension: str | None = EXTENSION, reason: str | None = REASON,
                   since: str | None = SINCE, until: str | None = UNTIL,
                   yes: bool = typer.Option(False, "--yes", help="Needed to redrive everything (no filter)."),
                   again: bool = typer.Option(False, "--again", help="Also letters that were redriven before.")
                   ) -> None:
    """Put dead-lettered call events back on call-events, as they were (same event id, so the same
    webhook-ids). Do it once the cause is fixed: an event that is still unusable comes back to the DLQ.
    Letters redriven before are left out (recorded in PostgreSQL), unless --again."""
    from delivery.cli import redrive_with_progress
    from processors.event_letters import redrive_events

    if not any((tenant, extension, reason, since, until, yes)):
        notices.print("No filter given: add --reason/--tenant/--extension/--since/--until, or --yes for all.")
        raise typer.Exit(2)
    letters = _letters(tenant, extension, reason, since, until, redrives_needed=True)
    chosen = [x for x in letters if again or x.redriven_at is None]
    sent, done = redrive_with_progress(len(chosen), lambda advance: redrive_events(Settings(), chosen,
                                                                                   progress=advance))
    if sent is None:
        went = sum(1 for x in chosen[:done] if not x.cut)
        console.print(f"Interrupted: {went} event(s) back on call-events and recorded as redriven; "
                      f"{len(chosen) - done} letter(s) not redriven. Run the same command again for the rest "
                      "(those redriven are left out).")
        raise typer.Exit(130)
    cut = len(chosen) - sent
    before = len(letters) - len(chosen)
    console.print(f"{sent} event(s) back on call-events"
                  + (f"; {cut} cut to fit the DLQ, skipped (the whole records are where `list` says they came from)"
                     if cut else "")
                  + (f"; {before} redriven before, left out (--again sends them too)." if before else "."))
