"""Commands of the producers: `ingest`, `ingest-key`, `simulate`."""

from __future__ import annotations

import asyncio

import typer

from schemas.consoles import stderr_console, stdout_console
from schemas.hints import DATABASE_NEXT_STEP, LISTEN_ANY, MIGRATE_NEXT_STEP
from schemas.settings import Settings

console = stdout_console()
err_console = stderr_console()
ingest_key_app = typer.Typer(help="Per-tenant ingest keys: credentials a PBX puts in the ingest URL (?key=…).")


def ingest(
    host: str = typer.Option("127.0.0.1", help=f"Address to listen on. {LISTEN_ANY}"),
    port: int = typer.Option(8081, help="Port to listen on (0 picks a free one; the log says which)."),
) -> None:
    """Serve the ingest endpoint: GET|POST /ingest/{tenant}/{type} (VoipNow's notification format) and
    POST /ingest/{tenant}/events (JSON list of CallEvents), authenticated per tenant, answered 202 only after
    Kafka acknowledged; also /healthz, /readyz, /metrics."""
    import uvloop

    from producers.ingest.server import CannotListen, serve

    try:
        uvloop.run(serve(Settings(), host=host, port=port))  # ~11 % more requests/s than asyncio's loop
    except CannotListen as error:
        err_console.print(f"[red]The ingest endpoint {error}[/red]: stop what holds the port, or pick another "
                          "with --port (0 picks a free one).")
        raise typer.Exit(1) from None


@ingest_key_app.command("create")
def ingest_key_create(
    org: int = typer.Option(..., "--org", help="Organization account id (see `admin org create`)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an ingest key for an organization and print it: this is the only time it is shown."""
    import json

    import psycopg

    from producers.errors import ProducerError
    from producers.ingest.keys import create_key

    try:
        key = create_key(Settings().database_url, org)
    except ProducerError as error:  # refused input (no such organization): a usage error, as for `admin`
        err_console.print(f"[red]Cannot create the key:[/red] {error}")
        raise typer.Exit(2) from None
    except psycopg.Error as error:
        err_console.print(f"[red]Cannot create the key:[/red] {error}{_hint(error)}")
        raise typer.Exit(1) from None
    if json_output:
        print(json.dumps({"id": key.id, "organization_id": key.organization_id, "tenant": key.tenant, "key": key.key}))
        return
    console.print(f"ingest key {key.id} for tenant {key.tenant} (shown only now):\n{key.key}")
    console.print(f"VoipNow URL form: http://<ingest host>:8081/ingest/{key.tenant}/dial-in?key={key.key}")


@ingest_key_app.command("revoke")
def ingest_key_revoke(key_id: int = typer.Argument(..., help="The key's id, as printed by `create`.")) -> None:
    """Revoke an ingest key (a running ingest endpoint forgets it within CALLAPI_INGEST_AUTH_CACHE_S, 30 s by
    default)."""
    import psycopg

    from producers.ingest.keys import revoke_key

    try:
        revoked = revoke_key(Settings().database_url, key_id)
    except psycopg.Error as error:
        err_console.print(f"[red]Cannot revoke the key:[/red] {error}{_hint(error)}")
        raise typer.Exit(1) from None
    if not revoked:  # refused input (unknown or already revoked), as `admin client revoke`: not the environment
        err_console.print(f"[red]No active ingest key {key_id}.[/red]")
        raise typer.Exit(2)
    console.print(f"ingest key {key_id} revoked")


def _hint(error: Exception) -> str:
    import psycopg

    if isinstance(error, psycopg.OperationalError):
        return f"\n{DATABASE_NEXT_STEP}"
    if isinstance(error, psycopg.errors.UndefinedTable):  # reachable, but not migrated (or another database)
        return f"\n{MIGRATE_NEXT_STEP}"
    return ""


def demo(
    duration: float = typer.Option(20.0, "--duration", min=1, help="Seconds of simulated traffic."),
    rate: float = typer.Option(40.0, "--rate", min=1, help="Events per second."),
    extensions: int = typer.Option(10, "--extensions", min=1, help="Extensions of the demo tenant (0001-style 9990)."),
    seed: int = typer.Option(2026, "--seed", help="Seed of the simulated traffic."),
    fail_one_in: int = typer.Option(20, "--fail-one-in", min=0, help="The receiver refuses the first attempt of "
                                    "one notification in N (503), to show retries; 0: never."),
    keep_topics: bool = typer.Option(False, "--keep-topics", help="Keep this run's topics (for replay, dlq)."),
) -> None:
    """The whole pipeline in one command, on the local stack (`callapi-events stack up` first): migrates,
    creates topics, starts the Control API, relay, processor, delivery worker and delivery-log sink as
    subprocesses, provisions demo tenant 9990 with requests pointing at a built-in receiver, simulates
    traffic, shows live progress, and ends with a summary and a PNG chart of delivery latency. Ctrl-C stops
    everything cleanly."""
    import logging

    from producers.demo.run import DemoOptions, run_demo
    from producers.errors import ProducerError

    for noisy in ("httpx", "aiokafka", "matplotlib"):  # the live view is the demo's output
        logging.getLogger(noisy).setLevel(logging.WARNING)

    options = DemoOptions(duration_s=duration, rate_eps=rate, extensions=extensions, seed=seed,
                          fail_one_in=fail_one_in, keep_topics=keep_topics)
    try:
        final, chart = asyncio.run(run_demo(Settings(), options, console))
    except KeyboardInterrupt:
        err_console.print("\ninterrupted: every worker was stopped")
        return
    except ProducerError as error:
        err_console.print(f"[red]The demo failed:[/red] {error}")
        raise typer.Exit(1) from None
    if chart is not None:
        console.print(f"latency chart: {chart}")
    if final.delivered != final.accepted or final.delivered + final.failed < final.jobs:
        err_console.print(f"[red]Not everything arrived:[/red] {final.jobs} jobs, {final.delivered} delivered, "
                      f"{final.accepted} accepted by the receiver. See the logs next to the chart.")
        raise typer.Exit(1)
    console.print(f"[green]{final.delivered} notifications delivered, all of them received.[/green]")


def register(app: typer.Typer) -> None:
    """Add this component's commands to the `callapi-events` app."""
    from producers.simulator.cli import simulate

    app.command("ingest")(ingest)
    app.add_typer(ingest_key_app, name="ingest-key")
    app.command("simulate")(simulate)
    app.command("demo")(demo)
