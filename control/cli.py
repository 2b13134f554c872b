"""Commands of the control plane: database migrations, the API, the outbox relay, the delivery-log sink, admin."""

from __future__ import annotations

import asyncio

import typer

from control.cli_admin import admin_app
from schemas.consoles import drop_kafka_connection_errors, quiet_kafka_client, stderr_console, stdout_console
from schemas.hints import DATABASE_NEXT_STEP, KAFKA_NEXT_STEP, LISTEN_ANY, NOT_MIGRATED
from schemas.settings import Settings

console = stdout_console()
notices = stderr_console()  # errors and progress: stdout keeps the result
db_app = typer.Typer(help="The PostgreSQL database: configuration, tenants, credentials, delivery log.")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations in order (safe to run from several pods at once)."""
    import psycopg

    from control.migrate import migrate

    settings = Settings()
    try:
        applied = migrate(settings.database_url)
    except psycopg.OperationalError as error:
        notices.print(f"[red]Cannot reach PostgreSQL:[/red] {error}\n{DATABASE_NEXT_STEP}")
        raise typer.Exit(1) from None
    for name in applied:
        console.print(f"[green]applied[/green] {name}")
    console.print(f"{len(applied)} migration(s) applied; the database is up to date.")


def api(host: str = typer.Option("127.0.0.1", help=f"Address to listen on. {LISTEN_ANY}"),
        port: int = typer.Option(8080, help="Port to listen on."),
        no_relay: bool = typer.Option(False, "--no-relay", help="Do not run the outbox relay in this process "
                                      "(run `callapi-events relay` separately).")) -> None:
    """Serve the Control API (OAuth tokens, the Event resource, /healthz, /readyz, /metrics, /openapi.json) and
    the web management UI at /ui/, and run the outbox relay unless --no-relay."""
    import uvicorn

    from control.api import create_app
    from control.api.http_protocol import limited_to
    from schemas.ops import listen_sockets

    if not no_relay:
        drop_kafka_connection_errors()  # the relay warns itself, naming CALLAPI_KAFKA_BOOTSTRAP
    try:
        settings = Settings()
        app = create_app(settings, relay=not no_relay)
    except ValueError as error:
        notices.print(f"[red]Bad setting:[/red] {error}")
        raise typer.Exit(2) from None
    try:
        sockets = listen_sockets(host, port)  # uvicorn's own bind makes `::` IPv6-only
    except OSError as error:
        notices.print(f"[red]Cannot listen on {host}:{port}:[/red] {error.strerror or error}")
        raise typer.Exit(1) from None
    # proxy_headers off: only CALLAPI_TRUSTED_PROXIES decides whose X-Forwarded-For is believed
    config = uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False,
                            http=limited_to(settings.max_request_head_bytes, settings.request_head_timeout_s))
    server = uvicorn.Server(config)
    server.run(sockets=sockets)
    if not server.started:
        raise typer.Exit(3)  # uvicorn.run's exit status when the app fails to start


def relay(resync: bool = typer.Option(False, "--resync", help="Republish every extension's list once, then exit."),
          host: str = typer.Option("127.0.0.1", help=f"Address of /healthz, /readyz and /metrics. {LISTEN_ANY}"),
          port: int = typer.Option(9103, help="Port of /healthz, /readyz and /metrics (0: any free port).")) -> None:
    """Publish committed configuration changes from the PostgreSQL outbox to the `event-requests` topic."""
    import uvloop

    from control.relay import run_relay
    from control.runner import run_with_ops

    settings = Settings()
    if resync:
        quiet_kafka_client()
        _resync(settings)
        return
    drop_kafka_connection_errors()  # the relay warns itself, naming CALLAPI_KAFKA_BOOTSTRAP
    uvloop.run(run_with_ops(lambda stop, on_round: run_relay(settings, stop=stop, on_round=on_round),
                            host=host, port=port))


def _resync(settings: Settings) -> None:
    import psycopg
    from aiokafka.errors import KafkaConnectionError
    from rich.progress import Progress

    from control.errors import Unavailable
    from control.relay import resync

    try:
        with Progress(console=notices) as progress:
            task = progress.add_task("republishing extension lists", total=None)
            count = asyncio.run(resync(settings, progress=lambda done, total: progress.update(task, completed=done,
                                                                                               total=total)))
            progress.update(task, completed=count, total=max(count, 1))
    except KafkaConnectionError:
        notices.print(f"[red]Cannot reach Kafka at {settings.kafka_bootstrap}:[/red] {KAFKA_NEXT_STEP}.")
        raise typer.Exit(1) from None
    except psycopg.OperationalError as error:
        notices.print(f"[red]Cannot reach PostgreSQL:[/red] {error}\n{DATABASE_NEXT_STEP}")
        raise typer.Exit(1) from None
    except psycopg.errors.UndefinedTable:  # reachable, but not migrated (or another database)
        notices.print(NOT_MIGRATED)
        raise typer.Exit(1) from None
    except Unavailable as error:
        notices.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    console.print(f"republished {count} extension list(s) to {settings.topics.event_requests}")


def sink(host: str = typer.Option("127.0.0.1", help=f"Address of /healthz, /readyz and /metrics. {LISTEN_ANY}"),
         port: int = typer.Option(9104, help="Port of /healthz, /readyz and /metrics (0: any free port).")) -> None:
    """Write `delivery-attempts` into the delivery log (daily partitions; old ones dropped after retention)."""
    import uvloop

    from control.runner import run_with_ops
    from control.sink import run_sink

    settings = Settings()
    drop_kafka_connection_errors()  # the sink warns itself, naming CALLAPI_KAFKA_BOOTSTRAP
    uvloop.run(run_with_ops(lambda stop, on_round: run_sink(settings, stop=stop, on_round=on_round),
                            host=host, port=port))


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(admin_app, name="admin")
    app.command("api")(api)
    app.command("relay")(relay)
    app.command("sink")(sink)
