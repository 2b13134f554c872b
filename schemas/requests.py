"""EventRequest: one notification request an extension configured, as carried on `event-requests`.

The value on `event-requests` is the JSON list of all of one extension's requests (key: the extension);
an empty list means the extension has none.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas.events import EventTypeSlug, Extension, UtcDatetime


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"


class EventRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = 1
    id: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9]+$", description="the Request ID")
    extension: Extension
    type: EventTypeSlug
    method: HttpMethod
    url: str = Field(min_length=1, max_length=2048)
    enabled: bool = True
    note: str = Field("", max_length=1024)
    signing_secrets: tuple[str, ...] = Field(
        (), description="Standard Webhooks secrets (whsec_…), newest first; two while a secret rotates"
    )
    modified: UtcDatetime


ExtensionRequests = TypeAdapter(list[EventRequest])
"""Reads and writes the value of one `event-requests` record."""
