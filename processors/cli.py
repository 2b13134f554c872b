"""Commands of this component: `processor` and `replay`."""

from __future__ import annotations

import typer

from schemas.hints import KAFKA_NEXT_STEP, LISTEN_ANY
from schemas.settings import Settings


def processor(
    host: str = typer.Option("127.0.0.1", help=f"Address of /healthz, /readyz and /metrics. {LISTEN_ANY}"),
    port: int = typer.Option(9101, help="Port of the operations endpoint (0 picks a free one)."),
) -> None:
    """Join call events with each extension's configured requests and produce delivery jobs.

    Reads `call-events` and the compacted `event-requests` topic, writes `deliveries` (and bad records to
    `call-events.dlq`). Run several replicas to share the partitions. SIGTERM stops gracefully.
    """
    from aiokafka.errors import KafkaConnectionError

    from processors.errors import ProcessorError
    from processors.worker import run

    settings = Settings()
    try:
        run(settings, host=host, port=port)
    except ProcessorError as error:  # a missing topic or a partition mismatch: the environment, not the usage
        typer.echo(f"processor cannot start: {error}", err=True)
        raise typer.Exit(1) from None
    except KafkaConnectionError:
        typer.echo(f"processor cannot start: {_unreachable(settings)}", err=True)
        raise typer.Exit(1) from None


def replay(
    since: str = typer.Option(..., help="Start of the window: a time such as 2026-11-27T10:00:00Z, or a "
                              "duration ago such as 2h."),
    until: str = typer.Option("0s", show_default="now", help="End of the window (exclusive), same forms."),
    tenant: list[str] = typer.Option([], "--tenant", help="Only this tenant (organization code); repeatable."),
    extension: list[str] = typer.Option(
        [], "--extension", help="Only this extension; repeatable. Topics are then read only on its partition (the "
        "partitioner's, over today's partition count; all of them when one may be newer than the window).",
    ),
    request_id: list[str] = typer.Option([], "--request-id", help="Only this Request ID; repeatable."),
    deliveries: bool = typer.Option(
        False, "--deliveries", help="Resend the jobs recorded on `deliveries` in the window, exactly as they "
        "were, instead of joining the window's events with the current config.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be sent; send nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Send the notifications of a time window again (marked as replays, same webhook-id).

    By default the window's events on `call-events` (found by time, per partition) are joined again with
    each extension's CURRENT requests. Receivers dedupe by webhook-id, so an interrupted replay can simply
    be run again: Ctrl-C finishes the batch in flight and says how many jobs went.
    """
    from aiokafka.errors import KafkaConnectionError

    from processors.errors import ProcessorError, ReplayInterrupted, TopicsMissing
    from processors.replay_cli import run_replay
    from schemas.consoles import quiet_kafka_client

    quiet_kafka_client()
    try:
        run_replay(
            since=since, until=until, tenants=tenant, extensions=extension, request_ids=request_id,
            from_deliveries=deliveries, dry_run=dry_run, as_json=as_json,
        )
    except ReplayInterrupted as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(130) from None
    except TopicsMissing as error:  # the environment, not the command line: 1, as every command answers it
        typer.echo(f"replay: {error}", err=True)
        raise typer.Exit(1) from None
    except ProcessorError as error:
        typer.echo(f"replay: {error}", err=True)
        raise typer.Exit(2) from None
    except KafkaConnectionError:
        typer.echo(f"replay: {_unreachable(Settings())}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("replay interrupted: run the same command again (receivers dedupe by webhook-id)", err=True)
        raise typer.Exit(130) from None


def _unreachable(settings: Settings) -> str:
    return f"cannot reach Kafka at {settings.kafka_bootstrap}: {KAFKA_NEXT_STEP}"


def register(app: typer.Typer) -> None:
    """Add this component's commands to the `callapi-events` app."""
    app.command("processor")(processor)
    app.command("replay")(replay)
