"""Which dead letters were already put back on `deliveries` (PostgreSQL table `dlq_redrives`).

The DLQ topic is append-only, so a redrive cannot mark what it sent; it is recorded here instead, after Kafka
acknowledged the redriven jobs (a crash in between repeats them next time rather than losing them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

LetterKey = tuple[int, int, str]
"""A dead letter's partition, offset and job id."""


class RedrivesUnavailable(RuntimeError):
    """PostgreSQL cannot be reached to read or record redrives."""


def _connect(database_url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(database_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        raise RedrivesUnavailable(f"PostgreSQL is unreachable ({error}); redrives are recorded there") from None


def redriven_at(database_url: str, topic: str, letters: Sequence[LetterKey]) -> dict[LetterKey, datetime]:
    """When each of these letters was redriven, for those that were."""
    if not letters:
        return {}
    partitions, offsets, job_ids = zip(*letters, strict=True)
    with _connect(database_url) as conn:
        rows = conn.execute(
            'SELECT partition, "offset", job_id, redriven_at FROM dlq_redrives WHERE topic = %s'
            ' AND (partition, "offset", job_id) IN (SELECT * FROM unnest(%s::integer[], %s::bigint[], %s::text[]))',
            (topic, list(partitions), list(offsets), list(job_ids)),
        ).fetchall()
    return {(partition, offset, job_id): at for partition, offset, job_id, at in rows}


def record_redriven(database_url: str, topic: str, letters: Sequence[LetterKey], *, retention_h: int) -> None:
    """Remember these letters as redriven now; forget those older than the DLQ's retention."""
    partitions, offsets, job_ids = zip(*letters, strict=True)
    with _connect(database_url) as conn, conn.transaction():
        conn.execute(
            'INSERT INTO dlq_redrives (topic, partition, "offset", job_id)'
            ' SELECT %s, * FROM unnest(%s::integer[], %s::bigint[], %s::text[])'
            ' ON CONFLICT (topic, partition, "offset") DO UPDATE'
            ' SET job_id = EXCLUDED.job_id, redriven_at = now()',
            (topic, list(partitions), list(offsets), list(job_ids)),
        )
        conn.execute("DELETE FROM dlq_redrives WHERE redriven_at < now() - make_interval(hours => %s)",
                     (retention_h,))
