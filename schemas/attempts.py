"""DeliveryAttempt: the record of one HTTP attempt, on `delivery-attempts`, feeding the delivery log."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import EventTypeSlug, Extension, UtcDatetime


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    DISABLED = "disabled"


class DeliveryAttempt(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = 1
    job_id: str
    event_id: str
    event_type: EventTypeSlug
    tenant: str
    extension: Extension
    request_id: str
    attempt: int = Field(ge=1)
    outcome: Outcome
    status_code: int | None = None
    error: str | None = Field(None, description="error class when no HTTP status came back, e.g. timeout")
    duration_ms: float = Field(ge=0)
    attempted_at: UtcDatetime
