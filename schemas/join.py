"""The stream-table join as a pure function: one call event and its extension's requests → DeliveryJobs.
It lives in schemas/ because the processor is not the only one to build jobs: test notifications (control plane)
and the probe build theirs the same way.

The processor keeps each extension's requests in a compact form (`pack_requests`): only the enabled ones,
only the fields a job needs, as small JSON bytes. That keeps a million configured extensions in a few
hundred megabytes and costs one small `json.loads` per event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

from schemas.events import CallEvent, EventType
from schemas.jobs import DeliveryJob, job_id_for
from schemas.requests import EventRequest, HttpMethod


class RequestLike(Protocol):
    """What the join reads from a request: satisfied by EventRequest and CompactRequest."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> EventType: ...
    @property
    def method(self) -> HttpMethod: ...
    @property
    def url(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def signing_secrets(self) -> tuple[str, ...]: ...


class CompactRequest(NamedTuple):
    id: str
    type: EventType
    method: HttpMethod
    url: str
    signing_secrets: tuple[str, ...]
    enabled: bool = True


def join(
    event: CallEvent,
    requests: Iterable[RequestLike],
    *,
    sequence: int,
    processed_at: datetime,
    replay: bool = False,
) -> list[DeliveryJob]:
    """One job per enabled request of the event's type, in the order the requests are listed."""
    params = event.parameters
    return [
        DeliveryJob(
            job_id=job_id_for(event.event_id, request.id),
            event_id=event.event_id,
            event_type=event.type,
            tenant=event.tenant,
            extension=event.extension,
            request_id=request.id,
            method=request.method,
            url=request.url,
            params=params,
            signing_secrets=tuple(request.signing_secrets),
            sequence=sequence,
            occurred_at=event.occurred_at,
            processed_at=processed_at,
            replay=replay,
        )
        for request in requests
        if request.enabled and request.type == event.type
    ]


def pack_requests(requests: Sequence[EventRequest]) -> bytes | None:
    """The compact table value of an extension's requests; None when none is enabled (no table entry)."""
    rows = [
        [r.id, int(r.type), r.method.value, r.url, list(r.signing_secrets)] for r in requests if r.enabled
    ]
    if not rows:
        return None
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()


_EVENT_TYPES = {int(event_type): event_type for event_type in EventType}
_METHODS = {method.value: method for method in HttpMethod}


def unpack_requests(packed: bytes | None) -> list[CompactRequest]:
    if not packed:
        return []
    # The enums by dictionary: calling them cost more than the rest of a row, once per event and request.
    return [
        CompactRequest(rid, _EVENT_TYPES[rtype], _METHODS[method], url, tuple(secrets))
        for rid, rtype, method, url, secrets in json.loads(packed)
    ]
