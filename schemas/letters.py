"""The dead letter of an unreadable record (pure): its original bytes, cut to what the broker takes, with headers
saying why and where from. Shared by the processor (`call-events.dlq`) and the workers (`deliveries.dlq`)."""

from __future__ import annotations

from schemas.errors import InvalidRecord

MAX_DETAIL_CHARS = 500
MAX_LETTER_BYTES = 1_000_000
"""Key and value of a dead letter together, kept under Kafka's default `message.max.bytes` (1,048,588) with
room for the headers. A record just under the limit would be refused on the DLQ once the headers are added,
and a letter the broker refuses holds its partition for good."""
KEPT_KEY_BYTES = 1024
Headers = list[tuple[str, bytes]]


def dead_letter_headers(
    error: InvalidRecord, *, topic: str, partition: int, offset: int
) -> Headers:
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
) -> tuple[bytes | None, bytes | None, Headers]:
    """The letter's key and value, cut to `max_bytes` together when larger, with headers giving the original
    sizes of what was cut. The whole record stays on its original topic, at the offset the letter names."""
    key_size, value_size = len(key or b""), len(value or b"")
    if key_size + value_size <= max_bytes:
        return key, value, []
    headers: Headers = []
    kept_key_bytes = min(KEPT_KEY_BYTES, max_bytes)
    if key is not None and key_size > kept_key_bytes:
        key = key[:kept_key_bytes]
        headers.append(("original-key-size", str(key_size).encode()))
    room = max_bytes - len(key or b"")
    if value is not None and value_size > room:
        value = value[:room]
        headers.append(("original-value-size", str(value_size).encode()))
    return key, value, headers
