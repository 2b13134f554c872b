"""Reading records off `call-events` and `event-requests`, and what a dead letter carries. Pure functions."""

from __future__ import annotations

from schemas.codec import decode, decode_list
from schemas.errors import InvalidRecord
from schemas.events import CallEvent
from schemas.extensions import canonical_extension
from schemas.requests import EventRequest, ExtensionRequests

MAX_DETAIL_CHARS = 500


def decode_event(key: bytes | None, value: bytes | None, *, max_bytes: int) -> CallEvent:
    """The CallEvent of a record, or InvalidRecord with its reason.

    The key must be the event's canonical extension: the config table is partitioned by that key, so an
    event under another key would be joined against the wrong partition (`key_mismatch`).
    """
    if value is None:
        raise InvalidRecord("invalid_json", "the record has no value")
    event = decode(CallEvent, value, max_bytes=max_bytes)
    if key is None or key != event.extension.encode():
        shown = "no key" if key is None else f"key {key.decode(errors='replace')!r}"
        raise InvalidRecord(
            "key_mismatch", f"{shown} is not the event's extension {event.extension!r}; key events by extension"
        )
    return event


def decode_requests(key: bytes | None, value: bytes | None) -> tuple[bytes, list[EventRequest]]:
    """The canonical extension (as the table key) and its requests; a tombstone means no requests."""
    if key is None:
        raise InvalidRecord("schema_invalid", "event-requests record without a key")
    try:
        extension = canonical_extension(key.decode())
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidRecord("schema_invalid", f"key: {error}") from None
    requests = [] if value is None else decode_list(ExtensionRequests, value)
    return extension.encode(), requests


def dead_letter_headers(
    error: InvalidRecord, *, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """The headers of CONTRACT.md: why (`error`, `error-detail`) and where from (topic, partition, offset)."""
    return [
        ("error", error.reason.encode()),
        ("error-detail", error.detail[:MAX_DETAIL_CHARS].encode()),
        ("original-topic", topic.encode()),
        ("original-partition", str(partition).encode()),
        ("original-offset", str(offset).encode()),
    ]
