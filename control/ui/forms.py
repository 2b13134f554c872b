"""The request form: what the browser posts → the service's Add/Edit fields, and its messages per field.

Validation itself is the service's (control.service.parse_fields); this module only maps form
conventions (an unticked checkbox is absent) and collects every field's message, not just the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from control.errors import InvalidInput
from control.service import RequestView, parse_fields
from schemas.events import EventType
from schemas.settings import Settings

FORM_FIELDS = ("type", "method", "url", "status", "note")
GENERAL = "form"  # the key of a message that belongs to no single field


@dataclass
class RequestForm:
    """The values shown in the form (as typed) and the message next to each field."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def blank(cls, event_type: EventType = EventType.DIAL_IN) -> RequestForm:
        return cls({"type": str(int(event_type)), "method": "GET", "url": "", "status": "1", "note": "",
                    "signing": ""})

    @classmethod
    def of(cls, request: RequestView) -> RequestForm:
        return cls({"type": str(int(request.type)), "method": str(request.method), "url": request.url,
                    "status": "1" if request.enabled else "0", "note": request.note,
                    "signing": "on" if request.signing else ""})

    @classmethod
    def posted(cls, form: Mapping[str, Any]) -> RequestForm:
        values = {name: str(form.get(name) or "") for name in FORM_FIELDS}
        # Browsers post a text area's line breaks as CR LF but count each as one character against its
        # maxlength: keep the note as typed, so a note the browser accepted is not refused as too long.
        values["note"] = values["note"].replace("\r\n", "\n")
        values["signing"] = "on" if form.get("signing") else ""
        return cls(values)

    def data(self) -> dict[str, Any]:
        """The fields for add_request / edit_request: every field, the checkbox as true or false."""
        data: dict[str, Any] = {name: self.values[name] for name in FORM_FIELDS}
        data["signing"] = bool(self.values["signing"])
        return data

    def fail(self, error: InvalidInput, settings: Settings) -> RequestForm:
        """Record `error` and the message of every other invalid field (the service stops at the first)."""
        self.errors = {}
        for name, value in self.data().items():
            try:
                parse_fields({name: value}, settings, partial=True)
            except InvalidInput as each:
                self.errors[each.field or name] = each.message
        self.errors.setdefault(error.field if error.field in FORM_FIELDS else GENERAL, error.message)
        return self
