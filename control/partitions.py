"""Daily partitions of delivery_log: the pure naming and retention rules, and the DDL that applies them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

PREFIX = "delivery_log_"
_NAME = re.compile(r"^delivery_log_(\d{8})$")
LOCK_KEY = 0x64656C6C6F67  # "dellog": serialises partition DDL between sink replicas


def partition_name(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def partition_day(name: str) -> date | None:
    match = _NAME.match(name)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None


def expired(names: list[str], *, today: date, retention_days: int) -> list[str]:
    """Partitions whose whole day is older than `retention_days` before `today` (UTC)."""
    oldest_kept = today - timedelta(days=retention_days)
    return sorted(n for n in names if (day := partition_day(n)) is not None and day < oldest_kept)


async def ensure_partition(conn: psycopg.AsyncConnection[Any], day: date) -> None:
    lower = datetime(day.year, day.month, day.day, tzinfo=UTC)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        await conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF delivery_log FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(partition_name(day)), sql.Literal(lower), sql.Literal(lower + timedelta(days=1))
            )
        )


async def existing_partitions(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    cursor = await conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'delivery_log'"
    )
    return [row[0] for row in await cursor.fetchall()]


async def drop_expired(conn: psycopg.AsyncConnection[Any], *, today: date, retention_days: int) -> list[str]:
    """Drop the partitions past retention; returns their names."""
    doomed = expired(await existing_partitions(conn), today=today, retention_days=retention_days)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        for name in doomed:
            await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
    return doomed
