"""What `callapi-events topics grow` prints: the steps with the resync's progress, then a summary table."""

from __future__ import annotations

import psycopg
import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from rich.console import Console
from rich.table import Table

from control.errors import Unavailable
from deploy.grow import GrowRefused, GrowReport, grow
from deploy.steps import run_in_steps
from schemas.consoles import drop_kafka_connection_errors, quiet_kafka_client
from schemas.hints import KAFKA_NEXT_STEP
from schemas.settings import Settings


def run_grow(settings: Settings, partitions: int, *, console: Console, notices: Console) -> None:
    quiet_kafka_client()
    drop_kafka_connection_errors()  # an unreachable broker is said below
    try:
        report = run_in_steps(notices, lambda step, progress: grow(settings, partitions, step=step, progress=progress))
    except GrowRefused as error:
        notices.print(f"[red]topics grow refused:[/red] {error}")
        raise typer.Exit(2) from None
    except KafkaConnectionError:
        notices.print(f"[red]Cannot reach Kafka at {settings.kafka_bootstrap}:[/red] {KAFKA_NEXT_STEP}.")
        raise typer.Exit(1) from None
    except (KafkaError, psycopg.Error, Unavailable) as error:
        notices.print(f"[red]topics grow stopped:[/red] {error!r}\nNothing is lost: run the same command again.")
        raise typer.Exit(1) from None
    print_report(report, settings, console)


def print_report(report: GrowReport, settings: Settings, console: Console) -> None:
    if not report.grown:
        console.print(f"every topic already has {report.target} partitions: nothing to do.")
        return
    table = Table(title=f"topics grown to {report.target} partitions")
    table.add_column("topic")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for topic, count in report.before.items():
        table.add_row(topic, str(count), str(report.target) if count < report.target else "[dim]unchanged[/dim]")
    console.print(table)
    console.print(
        f"republished {report.republished} extension list(s) to {settings.topics.event_requests} before "
        f"{settings.topics.call_events} grew; {report.moved} of them moved to another partition.\n"
        "[bold]Next: restart the processors[/bold] (`kubectl rollout restart deploy/callapi-processor`, or stop and "
        "start `callapi-events processor`): only a start checks the counts and starts the new partitions at their "
        "first record (a running one exits within about 30 s, status 75, when it sees them).\n"
        f"Then set CALLAPI_PARTITIONS={report.target} where the topics are declared (on Kubernetes the overlay's "
        "settings.env, then `python -m deploy.strimzi` and apply: README step 10).\n"
        "Later, once the producers have seen the new count (10 minutes) and the processors' lag is 0, run "
        "`callapi-events topics forget-old-copies` so the processors stop holding the lists left on old partitions."
    )
