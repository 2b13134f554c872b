"""Dead letters on `deliveries.dlq`: read them, filter them, put them back on `deliveries`.

The topic is read from the beginning up to the end offsets seen at the start, without a consumer group,
so listing never moves anything. Records that were never readable jobs are listed with their error header.
Redriven letters are recorded in PostgreSQL (schemas/redrives.py), so a second redrive can leave them out. A
redrive sends each job to its request as PostgreSQL has it now; a letter whose request is gone, disabled or of
another type now is left on the DLQ, unrecorded, for a later redrive.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import psycopg

from delivery.records import redriven
from schemas.codec import decode, encode
from schemas.errors import InvalidRecord
from schemas.extensions import canonical_extension
from schemas.jobs import DeliveryJob
from schemas.redrives import (
    LetterKey,
    Redriven,
    RedrivesUnavailable,
    Resend,
    matching_letters,
    refuse_malformed,
    resend,
)
from schemas.request_rows import publishable_requests_async
from schemas.requests import EventRequest
from schemas.settings import Settings
from schemas.topic_snapshot import Record

REDACTED = "whsec_…(redacted)"
REQUESTS_KEPT = 10_000
"""Extensions whose requests a redrive keeps once read: a DLQ spread over many extensions costs a query per
extension, not per extension and chunk of letters."""


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    dead_at: datetime
    job: DeliveryJob | None
    error: str
    redriven_at: datetime | None = None

    @property
    def where(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def identity(self) -> LetterKey | None:
        """What a redrive records (unreadable letters are never redriven)."""
        return None if self.job is None else (self.partition, self.offset, self.job.job_id)

    @property
    def redrivable(self) -> bool:
        return self.job is not None


@dataclass(frozen=True)
class Filters:
    tenant: str | None = None
    extension: str | None = None
    request_id: str | None = None
    job_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        refuse_malformed(self.tenant, self.extension, self.since, self.until)

    def match(self, letter: DeadLetter) -> bool:
        job = letter.job
        wanted = [
            (self.since is None or letter.dead_at >= self.since),
            (self.until is None or letter.dead_at < self.until),
        ]
        if any(v is not None for v in (self.tenant, self.extension, self.request_id, self.job_id)):
            if job is None:
                return False
            wanted += [
                self.tenant is None or job.tenant.lstrip("0") == self.tenant.lstrip("0"),
                self.extension is None or job.extension == canonical_extension(self.extension),
                self.request_id is None or job.request_id == self.request_id,
                self.job_id is None or job.job_id == self.job_id,
            ]
        return all(wanted)

    def needles(self) -> list[bytes]:
        """What a matching letter's bytes must contain (its job id, request id, extension): a record without
        them cannot match and is skipped without being parsed, so `dlq show` finds one job quickly."""
        extension = canonical_extension(self.extension) if self.extension is not None else None
        return [value.encode() for value in (self.job_id, self.request_id, extension) if value is not None]


def parse_letter(partition: int, offset: int, timestamp_ms: int, value: bytes | None,
                 headers: Iterable[tuple[str, bytes | None]]) -> DeadLetter:
    dead_at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    try:
        job = decode(DeliveryJob, value or b"")
    except InvalidRecord as error:
        header = (dict(headers).get("error") or b"").decode(errors="replace")  # a header's value may be null
        return DeadLetter(partition, offset, dead_at, None, header or error.reason)
    return DeadLetter(partition, offset, dead_at, job, job.last_error or "")


def redacted(job: DeliveryJob) -> dict[str, Any]:
    """The job as JSON-ready data, without its signing secrets."""
    data = job.model_dump(mode="json")
    data["signing_secrets"] = [REDACTED for _ in job.signing_secrets]
    return data


def dead_letters(settings: Settings, filters: Filters, *, progress: Callable[[int, int], None],
                 unavailable: Callable[[RedrivesUnavailable], None] | None = None) -> AsyncIterator[list[DeadLetter]]:
    """The matching letters, oldest first, a chunk at a time (see schemas.redrives.matching_letters)."""
    needles = filters.needles()

    def parse(r: Record) -> DeadLetter | None:
        if not all(needle in (r.value or b"") for needle in needles):
            return None
        return parse_letter(r.partition, r.offset, r.timestamp, r.value, r.headers)

    return matching_letters(settings, settings.topics.deliveries_dlq, parse, filters.match, progress=progress,
                            unavailable=unavailable)


@dataclass
class HeldBack:
    """Readable letters a redrive leaves on the DLQ (not recorded as redriven), by why: their request is ..."""

    removed: int = 0
    disabled: int = 0
    retyped: int = 0
    """... of another event type now."""

    @property
    def total(self) -> int:
        return self.removed + self.disabled + self.retyped

    def summary(self) -> str:
        """'; N left on the DLQ: …' for a redrive's summary line, or '' when none was."""
        why = {"removed": "was removed", "disabled": "is disabled", "retyped": "takes another event type now"}
        counts = [f"{n} whose request {why[f.name]}" for f in fields(self) if (n := getattr(self, f.name))]
        return f"; {self.total} left on the DLQ: {', '.join(counts)}" if counts else ""


async def redrive(settings: Settings, chunks: AsyncIterator[list[DeadLetter]], *, again: bool,
                  done: Redriven, held: HeldBack) -> None:
    """Put the readable letters back on `deliveries`, to their request's current URL, method and secrets, with a
    fresh attempt budget, and record them as redriven (see schemas.redrives.resend: Ctrl-C finishes the chunk in
    flight). Letters whose request was removed, is disabled or takes another type now stay, counted in `held`."""
    requests_of: dict[str, dict[str, EventRequest]] = {}  # extension → its requests by id, read once per redrive

    async def with_current_requests() -> AsyncIterator[list[DeadLetter]]:
        """Each chunk once the requests of its letters' extensions are read from PostgreSQL (those not read yet)."""
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            async for chunk in chunks:
                wanted = {job.extension for x in chunk
                          if (job := x.job) is not None and (again or x.redriven_at is None)}
                if len(requests_of) + len(wanted) > REQUESTS_KEPT:
                    requests_of.clear()
                for extension in wanted - requests_of.keys():
                    try:
                        conn = conn or await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True,
                                                                             connect_timeout=5)
                        requests, _ = await publishable_requests_async(conn, extension)
                    except psycopg.Error as error:
                        said = " ".join(str(error).split())
                        raise RedrivesUnavailable(f"the requests' current config could not be read from PostgreSQL "
                                                  f"({said})") from None
                    requests_of[extension] = {request.id: request for request in requests}
                yield chunk
        finally:
            if conn is not None:
                await conn.close()
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()

    def going_back(letter: DeadLetter) -> Resend | None:
        if (job := letter.job) is None or (key := letter.identity) is None:
            return None
        request = requests_of.get(job.extension, {}).get(job.request_id)
        if request is None:
            held.removed += 1
        elif not request.enabled:
            held.disabled += 1
        elif request.type != job.event_type:
            held.retyped += 1
        else:
            again = redriven(job, request, now=datetime.now(UTC))
            return Resend(key, again.extension.encode(), encode(again))
        return None

    await resend(settings, with_current_requests(), going_back, dlq=settings.topics.deliveries_dlq,
                 to=settings.topics.deliveries, again=again, done=done)
