"""What `dlq` and `dlq events` share: a DLQ read under a progress bar, listed in bounded memory, searched or
redriven, and every failure said with what to do next."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias, TypeVar

import typer
from rich.console import Console

from schemas.consoles import quiet_kafka_client, stderr_console, stdout_console
from schemas.hints import DATABASE_NEXT_STEP, KAFKA_NEXT_STEP
from schemas.settings import Settings

if TYPE_CHECKING:
    from rich.table import Table

    from schemas.redrives import Letter, Redriven, RedrivesUnavailable

console = stdout_console()
notices = stderr_console()
T = TypeVar("T")
L = TypeVar("L", bound="Letter")
Unavailable: TypeAlias = Callable[["RedrivesUnavailable"], None] | None
Reading: TypeAlias = Callable[[Callable[[int, int], None], Unavailable], AsyncIterator[list[L]]]
"""A DLQ's matching letters, a chunk at a time: given a progress callback and what to do without PostgreSQL
(None: fail)."""


def kafka_unreachable(settings: Settings) -> NoReturn:
    notices.print(f"[red]Cannot reach Kafka at {settings.kafka_bootstrap}:[/red] {KAFKA_NEXT_STEP}.")
    raise typer.Exit(1)


@dataclass
class Listed:
    """What a listing counted: every match, not only the rows shown."""

    matched: int = 0
    waiting: int = 0
    """Not redriven yet."""
    stuck: int = 0
    """Of those, letters that can never be redriven (unreadable, cut to fit the DLQ)."""
    redrives_known: bool = True
    """False when PostgreSQL, which records redrives, could not be read: `waiting` then counts every letter."""

    def __str__(self) -> str:
        if not self.redrives_known:
            return f"{self.matched} dead letter(s), redriven or not (PostgreSQL could not be read)"
        return f"{self.matched} dead letter(s), {self.waiting} not redriven yet"


def list_letters(topic: str, reading: Reading[L], *, as_json: bool, limit: int, as_dict: Callable[[L], dict[str, Any]],
                 table: Table, row: Callable[[L], Sequence[str]]) -> Listed:
    """Read a DLQ, oldest first: every match as a JSON line (`--json`), or the first `limit` in `table`; the
    letters are counted as they go, so a DLQ of millions is listed in bounded memory."""
    listed = Listed()
    shown: list[L] = []

    def unknown(error: RedrivesUnavailable) -> None:
        listed.redrives_known = False
        redrives_unknown(error)

    async def read() -> None:
        with reading_progress(topic, hidden=as_json and console.is_terminal) as progress:  # not over the lines
            async for chunk in reading(progress, unknown):
                for letter in chunk:
                    listed.matched += 1
                    if letter.redriven_at is None:
                        listed.waiting += 1
                        listed.stuck += not letter.redrivable
                    if as_json:
                        print(json.dumps(as_dict(letter)))
                    elif len(shown) < limit:
                        shown.append(letter)

    run_dlq_tool(read())
    if not as_json:
        if not listed.redrives_known:  # an empty "redriven" column would read as "never redriven"
            table.columns.pop()
        for letter in shown:
            table.add_row(*row(letter)[:len(table.columns)])
        print_whole(table)
        if listed.matched > len(shown):
            console.print(f"The oldest {len(shown)} of {listed.matched} shown: --limit for more, --json for all.")
    return listed


def redrives_unknown(error: RedrivesUnavailable) -> None:
    notices.print(f"[yellow]{error}: which letters were redriven is not shown.[/yellow]")


@contextmanager
def reading_progress(topic: str, *, hidden: bool = False) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar (on stderr) while a DLQ is read: one kept for weeks can be large. None when stderr
    is not a terminal: there it would show nothing but the blank line rich ends it with."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn(f"reading {topic}"), BarColumn(), MofNCompleteColumn(), console=notices,
                  transient=True, disable=hidden or not notices.is_interactive, redirect_stdout=False,
                  redirect_stderr=False) as bar:
        task = bar.add_task("read", total=None)
        yield lambda read, total: bar.update(task, completed=read, total=total)


def run_dlq_tool(work: Coroutine[Any, Any, T]) -> T:
    """Run a DLQ tool's work; every failure said with what to do next."""
    from aiokafka.errors import KafkaConnectionError

    from schemas.redrives import RedrivesUnavailable
    from schemas.topic_snapshot import TopicMissing

    quiet_kafka_client()
    try:
        return asyncio.run(work)
    except KafkaConnectionError:
        kafka_unreachable(Settings())
    except TopicMissing as error:
        notices.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    except RedrivesUnavailable as error:
        notices.print(f"[red]{error}.[/red] {DATABASE_NEXT_STEP}")
        raise typer.Exit(1) from None


def one_line(text: str) -> str:
    """A table cell on one line (an error may carry a library's multi-line message): piped, one row is one line."""
    return " ".join(text.split())


def print_whole(table: Table) -> None:
    """Piped (to grep, a file), the table as wide as its rows: not cut to the 80 columns assumed there."""
    from rich.measure import Measurement

    if console.is_terminal:
        console.print(table)
    else:
        Console(width=Measurement.get(console, console.options.update_width(10_000), table).maximum).print(table)


def found(topic: str, reading: Reading[L]) -> list[L]:
    """Every letter `reading` matches (a few: those of one job, or one place)."""
    async def read() -> list[L]:
        with reading_progress(topic) as progress:
            return [letter async for chunk in reading(progress, redrives_unknown) for letter in chunk]

    return run_dlq_tool(read())


def redrive_and_report(run: Callable[[Callable[[int, int], None], Redriven], Coroutine[Any, Any, None]], *,
                       went: str, skipped: Callable[[int], str], lister: str) -> None:
    """Run a redrive (`run(progress, done)`) under a progress bar of the DLQ read so far, then say what it did:
    `went` names what went where ("job(s) back on deliveries"), `skipped(n)` the letters that cannot go back,
    `lister` the command that lists the letters. Ctrl-C stops it after the chunk in flight, says what went, and
    exits 130."""
    from rich.progress import Progress

    from schemas.redrives import Redriven

    done = Redriven()
    try:
        # transient, and off when stdout is not a terminal: the summary line says what went, a finished bar
        # (or a failed one) would only add a stale line above it
        with Progress(console=console, transient=True, disable=not console.is_interactive) as bar:
            task = bar.add_task("redriving", total=None)
            run_dlq_tool(run(lambda read, total: bar.update(task, completed=read, total=total), done))
    except KeyboardInterrupt:
        console.print(f"Interrupted: {done.sent} {went} and recorded as redriven; " + _after(done)
                      + " Run the same command again for the rest (those redriven are left out).")
        raise typer.Exit(130) from None
    if not (done.sent or done.skipped or done.before):  # a mistyped filter, or an empty DLQ: say so, not "0 went"
        console.print(f"No dead letter matches: nothing was redriven. `{lister}` with the same filters shows what "
                      "there is.")
        return
    console.print(f"{done.sent} {went}{skipped(done.skipped)}"
                  + (f"; {done.before} redriven before, left out (--again sends them too)." if done.before else "."))


def _after(done: Redriven) -> str:
    """What became of the letters after those counted: a second Ctrl-C may have cut a chunk short."""
    if not done.unsettled:
        return "the letters after those were not redriven."
    return (f"the next {done.unsettled} were in flight when a second Ctrl-C stopped it: they may have gone without "
            "being recorded, and would then go again with the same command (receivers dedupe by webhook-id).")


def refuse_unfiltered(filtered: bool, options: str) -> None:
    """A redrive of the whole DLQ must be asked for (--yes), not left to a forgotten filter."""
    if not filtered:
        notices.print(f"No filter given: add {options}, or --yes for all.")
        raise typer.Exit(2)
