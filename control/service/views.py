"""What reads return: plain frozen dataclasses, independent of HTTP and HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.events import EventType
from schemas.requests import HttpMethod


@dataclass(frozen=True)
class RequestView:
    """One request as its owner sees it: `signing` says whether it signs, the secret is never shown."""

    id: str
    type: EventType
    method: HttpMethod
    url: str
    enabled: bool
    note: str
    modified: datetime
    signing: bool
    disabled_reason: str | None = None


@dataclass(frozen=True)
class SavedRequest:
    """The result of a change; `secret` is set only when the change generated one (returned this once, and again
    to an Add repeated with its Idempotency-Key: `replayed`)."""

    request: RequestView
    secret: str | None = None
    replayed: bool = False


@dataclass(frozen=True)
class RequestPage:
    items: list[RequestView]
    total: int
    start_index: int
    count: int


@dataclass(frozen=True)
class DeliveryView:
    job_id: str
    attempt: int
    event_id: str
    event_type: str
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: float
    attempted_at: datetime


@dataclass(frozen=True)
class DeliveryPage:
    items: list[DeliveryView]
    total: int
    start_index: int
    count: int
    more_than_total: bool = False
    """the log holds more than `total` attempts: they are counted only up to a bound"""
