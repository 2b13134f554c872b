"""Reading records off `call-events` and `event-requests`, and what a dead letter carries. Pure functions."""

from __future__ import annotations

from schemas.codec import decode, decode_list
from schemas.errors import InvalidRecord
from schemas.events import CallEvent
from schemas.extensions import canonical_extension
from schemas.requests import EventRequest, ExtensionRequests

MAX_DETAIL_CHARS = 500
MAX_LETTER_BYTES = 1_000_000
"""Key and value of a dead letter together, kept under Kafka's default `message.max.bytes` (1,048,588) with
room for the headers. A record just under the limit on call-events would be refused on call-events.dlq once
the headers are added, and a letter the broker refuses holds its partition for good."""
KEPT_KEY_BYTES = 1024


def decode_event(key: bytes | None, value: bytes | None, *, max_bytes: int) -> CallEvent:
    """The CallEvent of a record, or InvalidRecord with its reason.

    The key must be the event's extension, in either form, or absent (the caller puts such a record back
    under the canonical key: the config table is partitioned by it); a key naming another extension is a
    `key_mismatch`, as nothing says which of the two owns the event.
    """
    if value is None:
        raise InvalidRecord("invalid_json", "the record has no value")
    event = decode(CallEvent, value, max_bytes=max_bytes)
    if key is not None and key != event.extension.encode() and _extension_of_key(key) != event.extension:
        raise InvalidRecord(
            "key_mismatch", f"key {key.decode(errors='replace')!r} is not the event's extension {event.extension!r};"
            " key events by extension"
        )
    return event


def _extension_of_key(key: bytes) -> str | None:
    try:
        return canonical_extension(key.decode())
    except (UnicodeDecodeError, ValueError):
        return None


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


def fit_letter(
    key: bytes | None, value: bytes | None, *, max_bytes: int = MAX_LETTER_BYTES,
) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """The letter's key and value, cut to `max_bytes` together when larger, with headers giving the original
    sizes of what was cut. The whole record stays on its original topic, at the offset the letter names."""
    key_size, value_size = len(key or b""), len(value or b"")
    if key_size + value_size <= max_bytes:
        return key, value, []
    headers: list[tuple[str, bytes]] = []
    kept_key_bytes = min(KEPT_KEY_BYTES, max_bytes)
    if key is not None and key_size > kept_key_bytes:
        key = key[:kept_key_bytes]
        headers.append(("original-key-size", str(key_size).encode()))
    room = max_bytes - len(key or b"")
    if value is not None and value_size > room:
        value = value[:room]
        headers.append(("original-value-size", str(value_size).encode()))
    return key, value, headers
