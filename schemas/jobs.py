"""DeliveryJob: one notification to send, for one (event, request) pair, on `deliveries` and its retries."""

from __future__ import annotations

import hashlib
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import EventTypeSlug, Extension, UtcDatetime
from schemas.requests import HttpMethod

_JOB_NAMESPACE = uuid.UUID("6f1d7c1e-3b8a-4f0e-9a51-2c4de1f0b7a3")
_NAMESPACE_BYTES = _JOB_NAMESPACE.bytes


def job_id_for(event_id: str, request_id: str) -> str:
    """The deterministic job id, sent as `webhook-id`: the same for every retry, replay and redelivery.

    It is `uuid.uuid5(_JOB_NAMESPACE, f"{event_id}\\x00{request_id}").hex`, built from the digest directly: the
    UUID object cost more than the hash, once per job.
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{event_id}\x00{request_id}".encode()).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # the RFC 4122 variant
    return "msg_" + digest.hex()


class DeliveryJob(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = 1
    job_id: str = Field(description="webhook-id, from job_id_for(event_id, request_id)")
    event_id: str
    event_type: EventTypeSlug
    tenant: str
    extension: Extension
    request_id: str
    method: HttpMethod
    url: str
    params: dict[str, str] = Field(description="the nine default parameters, exact names")
    signing_secrets: tuple[str, ...] = ()
    sequence: int = Field(ge=0, description="per-extension order (X-CallAPI-Sequence)")
    occurred_at: UtcDatetime
    processed_at: UtcDatetime
    attempt: int = Field(0, ge=0, description="attempts already made")
    not_before: UtcDatetime | None = Field(None, description="a retry is not sent before this time")
    last_error: str | None = None
    deferred_since: UtcDatetime | None = Field(
        None, description="when the job was first put back without an attempt (open circuit, stalled host); "
                          "an attempt clears it")
    replay: bool = Field(False, description="sent again by an operator (replay or dlq redrive): its end-to-end "
                                            "latency from occurred_at is not counted")
