"""Synthetic call events: what `callapi-events probe` sends through the pipeline and what a test notification
(API, web UI) carries, so a receiver's URL can be checked without a real call.

Each reads like a call of its type for its extension; its CallID starts with `<kind>.` and its CallerIDName says
`CallAPI Events <kind>`, so a receiver can tell it from a call.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from schemas.events import CallEvent, EventType
from schemas.extensions import extended_form, tenant_of


def caller_name(kind: str) -> str:
    return f"CallAPI Events {kind}"


def synthetic_event(extension: str, event_type: EventType, *, now: datetime, kind: str) -> CallEvent:
    """A plausible event of `event_type` for `extension` (canonical form), marked as `kind` (probe, test)."""
    event_id = f"{kind}-{uuid.uuid4().hex}"
    outgoing = event_type in (EventType.DIAL_OUT, EventType.ANSWER_OUT)
    own, other = extended_form(extension), "+10000000000"
    return CallEvent(
        event_id=event_id, type=event_type, occurred_at=now, tenant=tenant_of(extension), extension=extension,
        CallID=f"{kind}.{event_id[len(kind) + 1:][:12]}", CallerIDNum=own if outgoing else other,
        CallerIDName=caller_name(kind), CalledDID="", CalledExtension="" if outgoing else own,
        CallStatus="CALLING" if event_type in (EventType.DIAL_IN, EventType.DIAL_OUT) else "ANSWER",
        CallFlow="OUT" if outgoing else "IN", CallerExtension=own if outgoing else "",
        CalledNumber=other if outgoing else own,
    )
