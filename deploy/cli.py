"""Commands for the local stack and the topics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from schemas.consoles import drop_kafka_connection_errors, stderr_console, stdout_console
from schemas.hints import KAFKA_NEXT_STEP
from schemas.settings import Settings

if TYPE_CHECKING:
    from deploy.local.stack import Stack

console = stdout_console()
notices = stderr_console()  # errors and warnings: stdout stays the result (status table, topics report)
stack_app = typer.Typer(help="The local real stack: Apache Kafka (KRaft) and PostgreSQL on 127.0.0.1.")
topics_app = typer.Typer(help="Kafka topics of the pipeline, as declared in schemas/topics.py.")

StackDir = Annotated[
    Path | None, typer.Option(help="Folder for the stack's data and logs \\[default: CALLAPI_STACK_DIR or .stack]")
]


def _stack(stack_dir: Path | None) -> Stack:
    from deploy.local.stack import Stack

    settings = Settings()
    return Stack.at(stack_dir or settings.stack_dir, settings.cache_dir / "maven", settings.kafka_bootstrap)


def _print(rows: dict[str, str], title: str) -> None:
    table = Table(title=title)
    table.add_column("service")
    table.add_column("state")
    for name, state in rows.items():
        table.add_row(name, state)
    console.print(table)


def _run_stack_action(action: str, stack_dir: Path | None) -> None:
    from deploy.local.errors import StackError

    try:
        with console.status(f"stack {action} …"):
            rows = getattr(_stack(stack_dir), action)()
    except StackError as error:
        notices.print(f"[red]stack {action} failed:[/red] {error}")
        raise typer.Exit(1) from None
    _print(rows, f"local stack: {action}")


@stack_app.command("up")
def stack_up(stack_dir: StackDir = None) -> None:
    """Start Kafka and PostgreSQL (first run: downloads Kafka with Maven, installs PostgreSQL if missing)."""
    _run_stack_action("up", stack_dir)


@stack_app.command("down")
def stack_down(stack_dir: StackDir = None) -> None:
    """Stop what `stack up` started, and nothing else. Data stays for the next `up`."""
    _run_stack_action("down", stack_dir)


@stack_app.command("status")
def stack_status(stack_dir: StackDir = None) -> None:
    """Show what runs where, and check that CALLAPI_KAFKA_BOOTSTRAP and CALLAPI_DATABASE_URL reach it (exit 1
    when one does not)."""
    _run_stack_action("status", stack_dir)
    problems = _unreachable(Settings() if stack_dir is None else Settings(stack_dir=stack_dir))
    for problem in problems:
        notices.print(problem)
    if problems:
        raise typer.Exit(1)


def _unreachable(settings: Settings) -> list[str]:
    """What the settings point at but cannot reach: the local stack may run while they name another address."""
    from rich.markup import escape

    from deploy.local.probe import kafka_metadata_ok, postgres_address, postgres_error

    problems = []
    if not kafka_metadata_ok(settings.kafka_bootstrap):
        problems.append(f"[red]Kafka is not reachable at {escape(settings.kafka_bootstrap)}.[/red] Check "
                        "CALLAPI_KAFKA_BOOTSTRAP against where the table says this stack's Kafka listens, or start "
                        "the local stack with `callapi-events stack up`.")
    if (error := postgres_error(settings.database_url)) is not None:
        address = escape(postgres_address(settings.database_url))
        problems.append(f"[red]PostgreSQL is not reachable at {address}:[/red] {escape(error)}\nCheck "
                        "CALLAPI_DATABASE_URL against where the table says this stack's PostgreSQL listens (user, "
                        "password and database: callapi), or start the local stack with `callapi-events stack up`.")
    return problems


@topics_app.command("create")
def topics_create(
    partitions: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="Partitions per topic \\[default: CALLAPI_PARTITIONS or 12]")
    ] = None,
) -> None:
    """Create every missing topic (idempotent) and report what was created."""
    from deploy.topics import create_topics

    settings = Settings() if partitions is None else Settings(partitions=partitions)
    drop_kafka_connection_errors()  # an unreachable broker is said below
    try:
        report = asyncio.run(create_topics(settings.kafka_bootstrap, settings.topic_specs()))
    except Exception as error:  # an unreachable broker surfaces as several aiokafka error types
        notices.print(
            f"[red]Could not create topics on {settings.kafka_bootstrap}:[/red] {error!r}\n"
            f"Is Kafka running there? If not, {KAFKA_NEXT_STEP}."
        )
        raise typer.Exit(1) from None
    for name in report.created:
        console.print(f"[green]created[/green] {name}")
    for name in report.existing:
        console.print(f"[dim]exists[/dim]  {name}")
    for line in report.mismatched:
        notices.print(f"[yellow]warning[/yellow] {line}")
    console.print(f"{len(report.created)} created, {len(report.existing)} already there.")


@topics_app.command("grow")
def topics_grow(
    partitions: Annotated[int, typer.Option(min=1, max=10_000, help="The new partition count of every topic.")],
) -> None:
    """Add partitions to every topic of a running pipeline, in the order that loses no notification.

    Adding partitions moves extensions to other partitions, and an event is joined only with the config on its
    own partition. So this grows `event-requests` first, republishes every extension's list (as `relay --resync`:
    each lands on its new partition), and only then grows `call-events` and the delivery topics. Run it instead
    of raising the count by hand (or by Strimzi, which grows every topic at once); set CALLAPI_PARTITIONS to the
    same count afterwards. Never shrinks (Kafka cannot remove partitions); run again after an interruption.
    Then restart the processors: each checks the counts and starts its new partitions' offsets at start-up (a
    running one exits, status 75, at the rebalance that shows the new partitions).
    """
    from deploy.grow_cli import run_grow

    run_grow(Settings(), partitions, console=console, notices=notices)


@topics_app.command("forget-old-copies")
def topics_forget_old_copies(
    settle: Annotated[str, typer.Option(
        metavar="DURATION", help="How long ago the partitions must have been added (longer than the producers' "
        "metadata age, 5 min by default): 30m, 1h.")] = "10m",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count and check only; write nothing.")] = False,
) -> None:
    """Remove the extension lists `topics grow` left on their old `event-requests` partitions, once nothing needs them.

    Run it some time after `topics grow`, when the processors run again and their lag is 0: until then, events
    written on an old `call-events` partition (before it grew, or by a producer whose metadata still has the old
    count) are joined there with the old copy. Each old copy takes memory in every processor that owns its partition
    and stays in the compacted topic for good; this writes a tombstone for each, on its partition, which the
    processors apply to that copy only. Refuses (exit 2, writing nothing, saying when to run again) while the
    processor group has not committed every event written so far, or while the growth is younger than --settle
    (copies left by an older growth are removed then, the others kept). Running it again writes nothing new.
    """
    from deploy.old_copies_cli import run_forget

    run_forget(Settings(), settle, dry_run=dry_run, console=console, notices=notices)
