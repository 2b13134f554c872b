"""Dead letters on `call-events.dlq`: read them, filter them, put them back on `call-events`.

A call event lands there when the processor cannot use it (unreadable, invalid, too large, keyed by another
extension) or when processing it tripped a bug (`processing_error`). Once the cause is fixed (a processor
release, a larger CALLAPI_MAX_EVENT_BYTES, a corrected producer), a redrive puts the original key and bytes back
on `call-events`: the event keeps its event_id, so its jobs keep their job ids (webhook-id). A letter cut to fit
the DLQ (headers `original-*-size`) no longer holds the whole event and is never redriven; the full record is
still on `call-events` at the offset the letter names, until that topic's retention.
Redrives are recorded in PostgreSQL (schemas/redrives.py), keyed by the letter's content, so a second redrive
leaves them out.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.codec import decode
from schemas.errors import InvalidRecord
from schemas.events import CallEvent
from schemas.extensions import canonical_extension, organization_code, tenant_of
from schemas.redrives import (
    LetterKey,
    Redriven,
    RedrivesUnavailable,
    Resend,
    matching_letters,
    refuse_malformed,
    resend,
    with_redrives,
)
from schemas.settings import Settings
from schemas.topic_snapshot import Record, record_at

CUT_HEADERS = ("original-key-size", "original-value-size")
REASONS = ("invalid_json", "schema_invalid", "too_large", "key_mismatch", "processing_error")
"""The `error` header values the processor writes on `call-events.dlq`."""


@dataclass(frozen=True)
class EventLetter:
    partition: int
    offset: int
    dead_at: datetime
    key: bytes | None
    value: bytes | None
    reason: str
    detail: str
    came_from: str
    """The original record: `topic partition:offset`."""
    cut: bool
    """Cut to fit the DLQ: not the whole event, never redriven."""
    extension: str | None
    """The event's extension, from its value if readable, else from its key; None when neither names one."""
    event_id: str | None
    redriven_at: datetime | None = None

    @property
    def where(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def identity(self) -> LetterKey:
        """What a redrive records: where the letter is, and a digest of it (a topic created again reuses offsets)."""
        digest = hashlib.sha256((self.key or b"") + b"\0" + (self.value or b"")).hexdigest()[:32]
        return self.partition, self.offset, f"sha256:{digest}"

    @property
    def redrivable(self) -> bool:
        return not self.cut


def parse_event_letter(record: Record) -> EventLetter:
    headers = {name: (value or b"").decode(errors="replace") for name, value in record.headers}
    event = _event_of(record.value)
    return EventLetter(
        partition=record.partition, offset=record.offset,
        dead_at=datetime.fromtimestamp(record.timestamp / 1000, UTC), key=record.key, value=record.value,
        reason=headers.get("error", "unknown"), detail=headers.get("error-detail", ""),
        came_from=" ".join(filter(None, (
            headers.get("original-topic"),
            f"{headers.get('original-partition', '?')}:{headers.get('original-offset', '?')}",
        ))),
        cut=any(name in headers for name in CUT_HEADERS),
        extension=event.extension if event else _extension_of_key(record.key),
        event_id=event.event_id if event else None,
    )


def _event_of(value: bytes | None) -> CallEvent | None:
    try:
        return decode(CallEvent, value) if value is not None else None
    except InvalidRecord:
        return None


def _extension_of_key(key: bytes | None) -> str | None:
    try:
        return canonical_extension(key.decode()) if key else None
    except (UnicodeDecodeError, ValueError):
        return None


@dataclass(frozen=True)
class EventLetterFilters:
    tenant: str | None = None
    extension: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        """Refuse a malformed filter (ValueError); keep the tenant and extension in their canonical forms."""
        refuse_malformed(self.tenant, self.extension, self.since, self.until)
        if self.reason is not None and self.reason not in REASONS:
            raise ValueError(f"--reason {self.reason!r} is none of {', '.join(REASONS)}: no letter can match")
        if self.tenant is not None:
            object.__setattr__(self, "tenant", organization_code(self.tenant))
        if self.extension is not None:
            object.__setattr__(self, "extension", canonical_extension(self.extension))

    @property
    def narrows(self) -> bool:
        return any(value is not None for value in (self.tenant, self.extension, self.reason, self.since, self.until))

    def match(self, letter: EventLetter) -> bool:
        if self.since is not None and letter.dead_at < self.since:
            return False
        if self.until is not None and letter.dead_at >= self.until:
            return False
        if self.reason is not None and letter.reason != self.reason:
            return False
        if self.extension is not None and letter.extension != self.extension:
            return False
        return self.tenant is None or (letter.extension is not None and tenant_of(letter.extension) == self.tenant)


def event_letters(settings: Settings, filters: EventLetterFilters, *, progress: Callable[[int, int], None],
                  unavailable: Callable[[RedrivesUnavailable], None] | None = None) -> AsyncIterator[list[EventLetter]]:
    """The matching letters, oldest first, a chunk at a time (see schemas.redrives.matching_letters)."""
    return matching_letters(settings, settings.topics.call_events_dlq, parse_event_letter, filters.match,
                            progress=progress, unavailable=unavailable)


async def event_letter_at(settings: Settings, partition: int, offset: int, *,
                          unavailable: Callable[[RedrivesUnavailable], None]) -> EventLetter | None:
    """The letter at this place, read directly rather than found by reading the DLQ (raises TopicMissing); with
    when it was redriven unless PostgreSQL is unreachable (`unavailable(error)` is told)."""
    record = await record_at(settings.kafka_bootstrap, settings.topics.call_events_dlq, partition, offset)
    if record is None:
        return None
    found = parse_event_letter(record)

    async def alone() -> AsyncIterator[EventLetter]:
        yield found

    (marked,) = [x async for chunk in with_redrives(settings.database_url, settings.topics.call_events_dlq, alone(),
                                                    unavailable=unavailable) for x in chunk]
    return marked


async def redrive_events(settings: Settings, chunks: AsyncIterator[list[EventLetter]], *, again: bool,
                         done: Redriven) -> None:
    """Put the whole letters back on `call-events` as they were and record them as redriven (see
    schemas.redrives.resend: Ctrl-C finishes the chunk in flight)."""
    def going_back(letter: EventLetter) -> Resend | None:
        return Resend(letter.identity, letter.key, letter.value) if letter.redrivable else None

    await resend(settings, chunks, going_back, dlq=settings.topics.call_events_dlq, to=settings.topics.call_events,
                 again=again, done=done)
