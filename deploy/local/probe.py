"""Readiness probes that speak the real protocols (a Kafka metadata request, a PostgreSQL query)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any


async def _kafka_cluster(bootstrap: str) -> dict[str, Any] | None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), timeout=5)
        return await asyncio.wait_for(admin.describe_cluster(), timeout=5)
    except Exception:
        return None
    finally:
        await admin.close()


def _describe_cluster(bootstrap: str) -> dict[str, Any] | None:
    """The cluster's description, with the Kafka client's log quiet meanwhile: refusals are expected while
    starting. Its level is restored after, so the caller's own Kafka clients still log."""
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(_kafka_cluster(bootstrap))
    finally:
        client_log.setLevel(level)


def kafka_metadata_ok(bootstrap: str) -> bool:
    cluster = _describe_cluster(bootstrap)
    return bool(cluster and cluster.get("brokers"))


def kafka_cluster_id(bootstrap: str) -> str | None:
    """The cluster id of the broker answering at `bootstrap` once it lists its brokers, else None."""
    cluster = _describe_cluster(bootstrap)
    return str(cluster["cluster_id"]) if cluster and cluster.get("brokers") else None


def postgres_error(dsn: str) -> str | None:
    """Why a connection with `dsn` fails (psycopg's words, on one line), or None when it connects."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=5):
            return None
    except psycopg.Error as error:
        return " ".join(str(error).split())


def postgres_address(dsn: str) -> str:
    """host:port/database of `dsn`, without the password, to name it in a message."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:  # a DSN psycopg cannot parse: its error says why when connecting
        return "CALLAPI_DATABASE_URL"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
