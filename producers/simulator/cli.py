"""`callapi-events simulate`: options and exit codes; the work is in producers.simulator.command."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from schemas.consoles import drop_kafka_connection_errors, stderr_console, stdout_console
from schemas.settings import Settings

if TYPE_CHECKING:
    from producers.simulator.generator import Plan, Timeline

KAFKA_HINT = "Start the local stack with `callapi-events stack up`, or set CALLAPI_KAFKA_BOOTSTRAP."
notices = stderr_console()  # problems: stdout stays the run's progress and summary
MAX_START_AHEAD_S = 60
"""A --start further ahead is refused: the run would wait for it silently."""


def _start(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter("use ISO 8601, e.g. 2026-11-27T10:00:00Z", param_hint="--start") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter("give a time zone, e.g. 2026-11-27T10:00:00Z", param_hint="--start")
    ahead_s = (parsed - datetime.now(UTC)).total_seconds()
    if ahead_s > MAX_START_AHEAD_S:  # a mistyped year: the run would send nothing until then, without a word
        far = f"{ahead_s / 86_400:.0f} days" if ahead_s >= 86_400 else f"{ahead_s:.0f} s"
        raise typer.BadParameter(f"{text} is {far} from now, and no event is sent before the start: give one at most "
                                 f"{MAX_START_AHEAD_S} s ahead, or in the past (its due events go at once)",
                                 param_hint="--start")
    return parsed


def simulate(
    organizations: int = typer.Option(10, "--organizations", "-n", min=1, help="Organizations (tenants)."),
    extensions: int = typer.Option(20, "--extensions", "-m", min=1, help="Extensions per organization."),
    rate: float = typer.Option(100.0, "--rate", min=0.01, help="Target events per second."),
    duration: float | None = typer.Option(None, "--duration", min=0.1, help="Seconds of traffic (default 10)."),
    count: int | None = typer.Option(None, "--count", min=1, help="Number of events (ends the run first)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed: the same seed and --start give the same events "
                                        "(default: random, printed at the start)."),
    start: str | None = typer.Option(None, "--start", help="Simulated start instant, ISO 8601, at most 60 s ahead "
                                     "(default: once Kafka is connected)."),
    skew: float = typer.Option(1.1, "--skew", min=0.0, help="Zipf exponent of tenant activity (0: even)."),
    answered: float = typer.Option(0.7, "--answered", min=0.0, max=1.0, help="Share of calls answered."),
    tenant_base: int = typer.Option(1, "--tenant-base", min=1, help="Code of the first organization (0001)."),
    linger_ms: int | None = typer.Option(None, "--linger-ms", min=0, help="Producer linger (batching delay) in ms "
                                             "(default: CALLAPI_PRODUCER_LINGER_MS, 5)."),
    provision: bool = typer.Option(False, "--provision", help="First create the tenants, extensions and requests."),
    provision_only: bool = typer.Option(False, "--provision-only", help="Provision, then exit without traffic."),
    receiver_url: str | None = typer.Option(None, "--receiver-url", help="Where provisioned requests point."),
    api: str = typer.Option("http://127.0.0.1:8080", "--api", help="Control API base URL (for --provision)."),
    client_id: str | None = typer.Option(None, "--client-id", help="API client reaching every organization."),
    client_secret: str | None = typer.Option(None, "--client-secret", help="Its secret."),
) -> None:
    """Simulate a multi-tenant PBX: internal, inbound and outbound calls, answered or not, written to
    `call-events` through the producer SDK at --rate events/s for --duration seconds or --count events.

    Tenants are 0001, 0002, … with extensions 0001*201, …; a few tenants are busy (Zipf). With --provision
    and --receiver-url, the tenants, extensions and one request per event type per extension are created
    first (admin CLI + Control API at --api), pointing at RECEIVER_URL/<extension>/<type>.
    """
    from producers.simulator.generator import Plan, Timeline
    from schemas.collector import SENDING_YOUNG_THRESHOLD, collecting_less_often

    console = stdout_console()
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    given_start = _start(start)
    if duration is None and count is None:
        duration = 10.0
    settings = Settings()
    plan = Plan(seed=seed, organizations=organizations, extensions=extensions, rate_eps=rate, skew=skew,
                answered_ratio=answered, tenant_base=tenant_base)
    if provision or provision_only:
        _provision(plan, settings, api_url=api, receiver_url=receiver_url, client_id=client_id,
                   client_secret=client_secret, console=console)
        if provision_only:
            return
    with collecting_less_often(SENDING_YOUNG_THRESHOLD) as warmed_up:
        timeline = Timeline(plan)  # before the start is taken: its warm-up takes seconds at high rates
        warmed_up()
        _traffic(timeline, settings, start=given_start, count=count, duration_s=duration, linger_ms=linger_ms,
                 console=console)


def _provision(plan: Plan, settings: Settings, *, api_url: str, receiver_url: str | None, client_id: str | None,
               client_secret: str | None, console: Console) -> None:
    import psycopg

    from producers.errors import ProvisionError
    from producers.simulator.command import provision_with_progress
    from schemas.hints import DATABASE_NEXT_STEP

    if not receiver_url:
        raise typer.BadParameter("--provision needs --receiver-url", param_hint="--receiver-url")
    credentials = (client_id, client_secret) if client_id and client_secret else None
    try:
        asyncio.run(provision_with_progress(plan, settings=settings, api_url=api_url, receiver_url=receiver_url,
                                            credentials=credentials, console=console))
    except ProvisionError as error:
        notices.print(f"[red]Provisioning failed:[/red] {error}\nIs the Control API running at {api_url} "
                      "(`callapi-events api`) and the database migrated (`callapi-events db migrate`)?")
        raise typer.Exit(1) from None
    except psycopg.OperationalError as error:  # the organizations already there are read from PostgreSQL
        notices.print(f"[red]Provisioning failed, PostgreSQL is unreachable:[/red] {error}\n{DATABASE_NEXT_STEP}")
        raise typer.Exit(1) from None


def _traffic(timeline: Timeline, settings: Settings, *, start: datetime | None, count: int | None,
             duration_s: float | None, linger_ms: int | None, console: Console) -> None:
    from producers.errors import ProducerUnavailable
    from producers.simulator.command import simulate as run_simulation
    from producers.simulator.command import summary_table
    from producers.simulator.runner import RunStats
    from schemas.interrupts import sigterm_as_ctrl_c
    from schemas.topic_snapshot import TopicMissing

    drop_kafka_connection_errors()  # an unreachable broker is said below
    stats = RunStats()
    try:
        asyncio.run(sigterm_as_ctrl_c(run_simulation(
            timeline, settings=settings, start=start, count=count, duration_s=duration_s, linger_ms=linger_ms,
            console=console, stats=stats,
        )))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C or SIGTERM: the producer flushed what it held
        console.print(summary_table(stats))
        notices.print(f"simulation interrupted: {sum(stats.sent.values())} event(s) sent, {stats.total_acked} "
                      f"acknowledged by Kafka, {stats.total_failed} failed.")
        raise typer.Exit(130) from None
    except ProducerUnavailable as error:
        notices.print(f"[red]{error}[/red]\n{KAFKA_HINT}")
        raise typer.Exit(1) from None
    except TopicMissing as error:
        notices.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    console.print(summary_table(stats))
    if stats.total_failed:
        notices.print(f"[red]{stats.total_failed} events were not acknowledged by Kafka[/red], e.g. {stats.errors[0]}")
        raise typer.Exit(1)
