"""`callapi-events lag-exporter`: the consumer-lag exporter (deploy/lag.py) behind the one command."""

from __future__ import annotations

import typer

from schemas.hints import LISTEN_ANY


def lag_exporter(
    host: str = typer.Option("127.0.0.1", help=f"Address of /healthz, /readyz and /metrics. {LISTEN_ANY}"),
    port: int = typer.Option(9105, help="Port of the operations endpoint (0 picks a free one)."),
    interval_s: float = typer.Option(15.0, "--interval-s", min=1.0, help="Seconds between two collections."),
) -> None:
    """Export callapi_consumer_lag{group,topic} for every consumer group under CALLAPI_TOPIC_PREFIX.

    Lag is read from the committed offsets on the brokers, so it keeps rising while a consumer is down.
    Ready (/readyz) after the first successful collection. SIGTERM stops.
    """
    import asyncio

    from aiokafka.errors import KafkaConnectionError

    from deploy.lag import run_exporter
    from schemas.hints import KAFKA_NEXT_STEP
    from schemas.settings import Settings

    settings = Settings()
    try:
        asyncio.run(run_exporter(settings, host=host, port=port, interval_s=interval_s))
    except KafkaConnectionError:
        typer.echo(f"lag-exporter cannot start: cannot reach Kafka at {settings.kafka_bootstrap}: {KAFKA_NEXT_STEP}",
                   err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Add `lag-exporter` to the `callapi-events` app."""
    app.command("lag-exporter")(lag_exporter)


if __name__ == "__main__":
    from callapi_events.logs import configure_logging
    from schemas.help_text import run

    configure_logging("INFO", json_format=False)
    run(lag_exporter)
