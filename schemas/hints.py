"""What to do next when a command cannot reach its services or topics: one wording for every command."""

from __future__ import annotations

KAFKA_NEXT_STEP = "set CALLAPI_KAFKA_BOOTSTRAP, or start the local stack with `callapi-events stack up`"
DATABASE_NEXT_STEP = "Set CALLAPI_DATABASE_URL, or start the local stack with `callapi-events stack up`."
DATABASE_NEXT_STEP_IN_LINE = "set CALLAPI_DATABASE_URL, or start the local stack with `callapi-events stack up`"
LISTEN_ANY = ":: listens on every IPv6 and IPv4 address (0.0.0.0 only where the host has no IPv6)."
"""The serving commands' --host help: how to listen for a dual-stack or IPv6-only cluster's probes."""
MIGRATE_NEXT_STEP = "Run `callapi-events db migrate`, or set CALLAPI_DATABASE_URL to the migrated database."
NOT_MIGRATED = f"[red]The database has no callapi tables.[/red] {MIGRATE_NEXT_STEP}"
"""What a command prints when PostgreSQL answers but has none of the project's tables (never migrated, or another
database)."""


def topic_missing(topic: str, bootstrap: str) -> str:
    return (f"topic {topic} does not exist on {bootstrap}: is CALLAPI_TOPIC_PREFIX right? "
            "(`callapi-events topics create` makes the pipeline's topics)")
