"""VoipNow notification → CallEvent: pure functions, no IO.

A VoipNow system feeds the pipeline by pointing its CallAPI Events at `/ingest/{tenant}/{type}`; the nine
default parameters arrive as query or form fields, exactly as VoipNow sends them to any URL. The event
belongs to one extension, found in this order:

1. an explicit `extension` field (either form, `0003*210` or `0003210`);
2. by CallFlow: `IN` → CalledExtension (the extension that received the call), `OUT` → CallerExtension;
3. without CallFlow, by the type's direction: dial-in/answer-in are IN, dial-out/answer-out are OUT
   (a hangup needs CallFlow or `extension`).

`event_id` (default: a new time-ordered UUIDv7) and `occurred_at` (ISO 8601 or Unix seconds; default:
the time of receipt) may be given too. Other fields (such as the `key` credential) are not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from producers.errors import IngestRejected, InvalidEvent
from producers.sdk import to_event
from schemas.events import PARAMETER_NAMES, CallEvent, EventType
from schemas.extensions import canonical_extension

_IN_TYPES = {EventType.DIAL_IN, EventType.ANSWER_IN}
_OUT_TYPES = {EventType.DIAL_OUT, EventType.ANSWER_OUT}
TEXT_FIELDS = (*PARAMETER_NAMES, "extension", "event_id", "tenant")
"""The fields of a JSON batch's event that a JSON notification would take as text (parameter_text)."""


def parameter_text(value: object) -> str:
    """A JSON value as a notification's parameter: text as is, a number as its text (`1001` → "1001"), null as "";
    ValueError for true/false, objects and arrays, whose text would be Python's, not the sender's."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("a parameter value is text, a number or null")


def parse_type(text: str) -> EventType:
    try:
        return EventType.parse(text)
    except ValueError as error:
        raise IngestRejected(404, "type_invalid", str(error)) from None


def call_flow(event_type: EventType, fields: Mapping[str, str]) -> str:
    """The CallFlow of the event: given (IN/OUT), or implied by the type; "" when neither says."""
    flow = fields.get("CallFlow", "").strip().upper()
    if flow not in ("", "IN", "OUT"):
        raise IngestRejected(400, "callflow_invalid", f"CallFlow {fields['CallFlow']!r} is neither IN nor OUT")
    if flow:
        return flow
    return "IN" if event_type in _IN_TYPES else "OUT" if event_type in _OUT_TYPES else ""


def owning_extension(event_type: EventType, fields: Mapping[str, str]) -> str:
    """The canonical extension this event belongs to (see the module docstring for the rule)."""
    explicit = fields.get("extension", "").strip()
    flow = call_flow(event_type, fields)
    source = "extension" if explicit else {"IN": "CalledExtension", "OUT": "CallerExtension"}.get(flow)
    if source is None:
        raise IngestRejected(
            400, "extension_missing", f"a {event_type.slug} event needs CallFlow IN or OUT, or an `extension` field"
        )
    value = fields.get(source, "").strip()
    if not value:
        raise IngestRejected(400, "extension_missing", f"{source} is empty: no extension owns this event")
    try:
        return canonical_extension(value)
    except ValueError as error:
        raise IngestRejected(400, "extension_invalid", f"{source}: {error}") from None


def parse_occurred_at(text: str, *, now: datetime) -> datetime:
    """ISO 8601 with a zone, or Unix seconds; `now` when empty."""
    text = text.strip()
    if not text:
        return now
    try:
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed.astimezone(UTC)  # a time at the edge of the calendar may have no UTC equivalent
    except (ValueError, OverflowError, OSError):  # OSError: a Unix time out of the platform's range
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise IngestRejected(
            400, "occurred_at_invalid", f"occurred_at {text!r}: use ISO 8601 with a zone, or Unix seconds"
        )
    return parsed


def check_tenant(event: CallEvent, tenant: str) -> None:
    if event.tenant.zfill(4) != tenant.zfill(4):
        raise IngestRejected(403, "forbidden", f"extension {event.extension} does not belong to tenant {tenant}")


def event_from_notification(
    tenant: str, type_text: str, fields: Mapping[str, str], *, now: datetime, new_id: Callable[[datetime], str],
) -> CallEvent:
    """The CallEvent a VoipNow notification describes, or IngestRejected with the reason."""
    event_type = parse_type(type_text)
    extension = owning_extension(event_type, fields)
    occurred_at = parse_occurred_at(fields.get("occurred_at", ""), now=now)
    data: dict[str, Any] = {name: fields.get(name, "") for name in PARAMETER_NAMES}
    data |= {
        "event_id": fields.get("event_id", "").strip() or new_id(occurred_at),
        "type": event_type, "occurred_at": occurred_at, "extension": extension, "tenant": tenant,
    }
    return _validated(data, tenant)


def event_from_json(
    tenant: str, item: object, *, now: datetime, new_id: Callable[[datetime], str],
) -> CallEvent:
    """One CallEvent of a JSON batch; tenant, event_id and occurred_at default as for notifications."""
    if not isinstance(item, dict):
        raise IngestRejected(400, "schema_invalid", f"an event must be a JSON object, not {type(item).__name__}")
    data = dict(item)
    for name in TEXT_FIELDS:  # as a JSON notification reads them; the CallEvent schema itself stays strict
        if name in data:
            try:
                data[name] = parameter_text(data[name])
            except ValueError as error:
                raise IngestRejected(400, "schema_invalid", f"{name}: {error}, not {_json_kind(data[name])}") from None
    data.setdefault("tenant", tenant)
    if not data.get("occurred_at"):
        data["occurred_at"] = now
    if not data.get("event_id"):
        data["event_id"] = new_id(now)
    return _validated(data, tenant)


def _json_kind(value: object) -> str:
    return "true or false" if isinstance(value, bool) else "an array" if isinstance(value, list) else "an object"


def _validated(data: dict[str, Any], tenant: str) -> CallEvent:
    try:
        event = to_event(data)
    except InvalidEvent as error:
        detail = error.detail
        code = "forbidden" if "does not belong to tenant" in detail else "schema_invalid"
        raise IngestRejected(403 if code == "forbidden" else 400, code, detail) from None
    check_tenant(event, tenant)
    return event
