"""Putting dead letters back (`dlq redrive`, `dlq events redrive`), and which were (PostgreSQL table `dlq_redrives`).

A DLQ topic is append-only, so a redrive cannot mark what it sent; it is recorded here instead, after Kafka
acknowledged the redriven records (a crash in between repeats them next time rather than losing them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from aiokafka import AIOKafkaProducer

from schemas.settings import Settings

T = TypeVar("T")
L = TypeVar("L")
log = logging.getLogger(__name__)

LetterKey = tuple[int, int, str]
"""A dead letter's partition, offset and identity (the job id; for a call event, a digest of the letter)."""


@dataclass(frozen=True)
class Resend:
    """One letter's record as it goes back."""

    letter: LetterKey
    key: bytes | None
    value: bytes | None


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


async def resend(settings: Settings, letters: Sequence[L], going_back: Callable[[L], Resend | None], *, dlq: str,
                 to: str, progress: Callable[[], None], chunk: int = 500) -> int:
    """Send each letter's record (`going_back`, made a chunk at a time; None: it cannot go back, only counted) to
    `to` and record the letters (of `dlq`) as redriven. Returns how many went.

    `progress` is called once per item done (sent and recorded, or skipped). Cancelled (Ctrl-C), the chunk in
    flight is finished first, so the items done are exactly those `progress` counted."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    sent = 0
    try:
        for start in range(0, len(letters), chunk):
            part = [going_back(letter) for letter in letters[start:start + chunk]]
            sent += await _uninterrupted(_resend_chunk(settings, producer, part, dlq=dlq, to=to, progress=progress))
    finally:
        await producer.stop()
    return sent


async def _resend_chunk(settings: Settings, producer: AIOKafkaProducer, part: Sequence[Resend | None], *,
                        dlq: str, to: str, progress: Callable[[], None]) -> int:
    going = [item for item in part if item is not None]
    await asyncio.gather(*[await producer.send(to, item.value, key=item.key) for item in going])
    if going:  # only once Kafka has them: a crash before this repeats them, never loses them
        await asyncio.to_thread(record_redriven, settings.database_url, dlq, [item.letter for item in going],
                                retention_h=settings.dlq_retention_h)
    for _ in part:
        progress()
    return len(going)


async def _uninterrupted(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` to its end even when the caller is cancelled, then pass the cancellation on: stopped
    half-way, a chunk would be sent without being recorded, and go twice on the next redrive."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        log.warning("interrupted: finishing the letters in flight, then stopping (Ctrl-C again stops at once)")
        await task
        raise
