"""Reading records off `call-events` and `event-requests`. Pure functions."""

from __future__ import annotations

from schemas.codec import decode, decode_list
from schemas.errors import InvalidRecord
from schemas.events import CallEvent
from schemas.extensions import canonical_extension
from schemas.requests import EventRequest, ExtensionRequests


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
