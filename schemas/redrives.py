"""Putting dead letters back (`dlq redrive`, `dlq events redrive`), and which were (PostgreSQL table `dlq_redrives`).

A DLQ topic is append-only, so a redrive cannot mark what it sent; it is recorded here instead, after Kafka
acknowledged the redriven records (a crash in between repeats them next time rather than losing them).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, LiteralString, Protocol, TypeVar

import psycopg
from aiokafka import AIOKafkaProducer

from schemas.extensions import canonical_extension, organization_code
from schemas.hints import topic_missing
from schemas.settings import Settings
from schemas.topic_snapshot import Record, TopicMissing, records_oldest_first

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


class RedriveLog:
    """The `dlq_redrives` rows of one DLQ topic, over one connection kept for the whole command.

    Statements run in a worker thread (asyncio.to_thread); one stopped by Ctrl-C goes on there while the command
    closes, so `close` cancels it and waits for it to end: a connection closed under a statement in flight
    corrupts the process's memory (an abort, "corrupted double-linked list")."""

    def __init__(self, database_url: str, topic: str) -> None:
        self.database_url, self.topic = database_url, topic
        self._conn: psycopg.Connection[Any] | None = None
        self._pruned = False
        self._busy = threading.Lock()

    def _execute(self, query: LiteralString, params: tuple[Any, ...]) -> list[Any]:
        with self._busy:
            return self._rows(query, params)

    def _rows(self, query: LiteralString, params: tuple[Any, ...]) -> list[Any]:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
            cursor = self._conn.execute(query, params)
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg.OperationalError as error:
            said = " ".join(str(error).split())  # libpq's hint comes on a line of its own: one message, one line
            raise RedrivesUnavailable(f"PostgreSQL is unreachable ({said}); redrives are recorded there") from None
        except psycopg.errors.UndefinedTable:  # reachable, but not migrated (or another database)
            raise RedrivesUnavailable("the database has no dlq_redrives table (run `callapi-events db migrate`, or set "
                                      "CALLAPI_DATABASE_URL to the migrated database); redrives are recorded there"
                                      ) from None

    def redriven_at(self, letters: Sequence[LetterKey]) -> dict[LetterKey, datetime]:
        """When each of these letters was redriven, for those that were."""
        if not letters:
            return {}
        partitions, offsets, job_ids = zip(*letters, strict=True)
        rows = self._execute(
            'SELECT partition, "offset", job_id, redriven_at FROM dlq_redrives WHERE topic = %s'
            ' AND (partition, "offset", job_id) IN (SELECT * FROM unnest(%s::integer[], %s::bigint[], %s::text[]))',
            (self.topic, list(partitions), list(offsets), list(job_ids)),
        )
        return {(partition, offset, job_id): at for partition, offset, job_id, at in rows}

    def record(self, letters: Sequence[LetterKey], *, retention_h: int) -> None:
        """Remember these letters as redriven now; once per command, forget those older than the DLQ's retention."""
        partitions, offsets, job_ids = zip(*letters, strict=True)
        self._execute(
            'INSERT INTO dlq_redrives (topic, partition, "offset", job_id)'
            ' SELECT %s, * FROM unnest(%s::integer[], %s::bigint[], %s::text[])'
            ' ON CONFLICT (topic, partition, "offset") DO UPDATE'
            ' SET job_id = EXCLUDED.job_id, redriven_at = now()',
            (self.topic, list(partitions), list(offsets), list(job_ids)),
        )
        if not self._pruned:
            self._execute("DELETE FROM dlq_redrives WHERE redriven_at < now() - make_interval(hours => %s)",
                          (retention_h,))
            self._pruned = True

    def close(self) -> None:
        if not self._busy.acquire(blocking=False):  # a statement in flight in a worker thread
            # Not needed any more: a read's letters go unused, and a record is in flight only when a second Ctrl-C
            # stopped the redrive at once (a first one lets it finish): those letters, on Kafka already, are said
            # to be unrecorded and go again with the next redrive (at least once, never lost).
            if (conn := self._conn) is not None:
                conn.cancel_safe(timeout=5)
            self._busy.acquire()
        try:
            if self._conn is not None:
                self._conn.close()
        finally:
            self._busy.release()


class Letter(Protocol):
    """A dead letter as the tools hold it: a frozen dataclass with when it was redriven, if it was."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def redriven_at(self) -> datetime | None: ...

    @property
    def identity(self) -> LetterKey | None:
        """What a redrive records; None for a letter that is never redriven (it is not looked up)."""

    @property
    def redrivable(self) -> bool:
        """False for a letter that can never go back (unreadable, cut to fit the DLQ)."""


L = TypeVar("L", bound=Letter)


async def with_redrives(database_url: str, dlq: str, letters: AsyncIterator[L], *, chunk: int = 500,
                        unavailable: Callable[[RedrivesUnavailable], None] | None = None) -> AsyncIterator[list[L]]:
    """The letters a chunk at a time, each with when it was redriven (one query per chunk). Without PostgreSQL,
    `unavailable(error)` is told once and the letters go on unmarked; with no `unavailable`, the error is raised."""
    redrives, known = RedriveLog(database_url, dlq), True

    async def marked(part: list[L]) -> list[L]:
        nonlocal known
        if not known:
            return part
        try:
            when = await asyncio.to_thread(redrives.redriven_at, [k for x in part if (k := x.identity) is not None])
        except RedrivesUnavailable as error:
            if unavailable is None:
                raise
            unavailable(error)
            known = False
            return part
        return [replace(x, redriven_at=when[key]) if (key := x.identity) in when else x for x in part]

    part: list[L] = []
    try:
        async for letter in letters:
            part.append(letter)
            if len(part) == chunk:
                yield await marked(part)
                part = []
        if part:
            yield await marked(part)
    finally:
        redrives.close()


async def matching_letters(settings: Settings, dlq: str, parse: Callable[[Record], L | None],
                           match: Callable[[L], bool], *,
                           progress: Callable[[int, int], None],
                           unavailable: Callable[[RedrivesUnavailable], None] | None = None,
                           ) -> AsyncIterator[list[L]]:
    """The DLQ's letters (`parse` of each record; None: it cannot match) that `match`, oldest first, a chunk at a
    time with when each was redriven (see `with_redrives` for `unavailable`; raises TopicMissing);
    `progress(read, total)` as records come."""
    async with aclosing(records_oldest_first(settings.kafka_bootstrap, dlq, progress=progress)) as records:
        letters = (letter async for record in records if (letter := parse(record)) is not None and match(letter))
        async for chunk in with_redrives(settings.database_url, dlq, letters, unavailable=unavailable):
            yield chunk


@dataclass
class Redriven:
    """What a redrive did so far: kept up to date as it goes, so it is right also when Ctrl-C stopped it."""

    sent: int = 0
    skipped: int = 0
    """Letters that cannot go back (unreadable, cut to fit the DLQ)."""
    before: int = 0
    """Letters redriven before, left out."""
    unsettled: int = 0
    """Letters of the chunk in flight: handed to Kafka, not yet known to be there and recorded. Not 0 only when a
    second Ctrl-C stopped the redrive at once: those may have gone without being recorded."""


async def resend(settings: Settings, chunks: AsyncIterator[list[L]], going_back: Callable[[L], Resend | None], *,
                 dlq: str, to: str, again: bool, done: Redriven) -> None:
    """Send each chunk's letters (those never redriven, or all with `again`) as `going_back` makes them (None: it
    cannot go back, only counted) to `to`, and record them (letters of `dlq`) as redriven, counting in `done`.
    The next chunk is read while one is sent; chunks go one after the other, in order.

    Cancelled (Ctrl-C), the chunk in flight is finished first, so `done` says exactly what went."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    redrives = RedriveLog(settings.database_url, dlq)
    sending: asyncio.Future[None] | None = None
    try:
        await producer.start()  # inside: a failed start leaves its connections behind, unclosed
        topics = (await producer.client.fetch_all_metadata()).topics()
        for needed in (dlq, to):  # the DLQ read first, as `list` says; a send to a missing `to` waits, then fails
            if needed not in topics:
                raise TopicMissing(topic_missing(needed, settings.kafka_bootstrap))
        async for chunk in chunks:
            chosen = [letter for letter in chunk if again or letter.redriven_at is None]
            done.before += len(chunk) - len(chosen)
            part = [going_back(x) for x in chosen]
            if sending is not None:
                await asyncio.shield(sending)
            sending = asyncio.ensure_future(_resend_chunk(producer, redrives, part, done, to=to,
                                                          retention_h=settings.dlq_retention_h))
        if sending is not None:
            await asyncio.shield(sending)
    except BaseException as error:
        # stopped half-way, a chunk would be sent without being recorded, and go twice on the next redrive
        if sending is not None and not sending.done():
            if isinstance(error, asyncio.CancelledError):
                log.warning("interrupted: finishing the letters in flight, then stopping (Ctrl-C again stops at once; "
                            "letters in flight then go again with the next redrive)")
            await sending
        raise
    finally:
        if isinstance(chunks, AsyncGenerator):  # closed here, not by asyncio.run's shutdown: that closes each nested
            await chunks.aclose()               # generator at once, and logs "already running" tracebacks
        await producer.stop()
        redrives.close()


async def _resend_chunk(producer: AIOKafkaProducer, redrives: RedriveLog, part: Sequence[Resend | None],
                        done: Redriven, *, to: str, retention_h: int) -> None:
    going = [item for item in part if item is not None]
    done.unsettled = len(going)
    await asyncio.gather(*[await producer.send(to, item.value, key=item.key) for item in going])
    if going:  # only once Kafka has them: a crash before this repeats them, never loses them
        await asyncio.to_thread(redrives.record, [item.letter for item in going], retention_h=retention_h)
    done.sent += len(going)
    done.unsettled = 0
    done.skipped += len(part) - len(going)


def refuse_malformed(tenant: str | None, extension: str | None, since: datetime | None,
                     until: datetime | None) -> None:
    """Refuse a malformed filter at once, rather than let it match nothing (raises ValueError)."""
    if since is not None and until is not None and since >= until:
        raise ValueError(f"--since {since:%Y-%m-%dT%H:%M:%SZ} is not before --until {until:%Y-%m-%dT%H:%M:%SZ}: "
                         "no letter can match (swapped?)")
    if tenant is not None:
        organization_code(tenant)
    if extension is not None:
        canonical_extension(extension)
