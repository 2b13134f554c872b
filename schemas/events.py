"""CallEvent: one telephone call event of one extension, as it travels on `call-events`."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from schemas.extensions import ORG_CODE_DIGITS, canonical_extension, tenant_of

PARAMETER_NAMES = (
    "CallID",
    "CallerIDNum",
    "CallerIDName",
    "CalledDID",
    "CalledExtension",
    "CallStatus",
    "CallFlow",
    "CallerExtension",
    "CalledNumber",
)
"""The default request parameters, with VoipNow's exact names, in VoipNow's order."""


class EventType(IntEnum):
    """The event types, numbered as VoipNow numbers them."""

    DIAL_IN = 0
    DIAL_OUT = 1
    HANGUP = 2
    ANSWER_IN = 3
    ANSWER_OUT = 4

    @property
    def slug(self) -> str:
        return _SLUGS[self]

    @classmethod
    def parse(cls, value: object) -> EventType:
        """Accept 2, "2", "hangup", "HANGUP" or an EventType."""
        if type(value) is str and (known := _SPELLINGS.get(value)) is not None:
            return known  # the usual spellings, looked up first: every event and job passes here
        if isinstance(value, EventType):  # after the look-up: this check alone costs more than it
            return value
        return cls._parse_slowly(value)

    @classmethod
    def _parse_slowly(cls, value: object) -> EventType:
        """Every accepted form, with the refusals' messages; parse() must agree with it on `_SPELLINGS`."""
        if isinstance(value, bool):
            raise ValueError("event type must be 0-4 or a name such as dial-in")
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()):
            try:
                return cls(int(value))
            except ValueError:
                raise ValueError(f"event type {value!r} is not 0-4") from None
        if isinstance(value, str):
            key = value.strip().upper().replace("-", "_")
            if key in cls.__members__:
                return cls[key]
        raise ValueError(f"event type {value!r} is not one of {', '.join(t.slug for t in cls)} (0-4)")


# Built once: the slug and the usual spellings would otherwise be rebuilt or normalised for every record.
_SLUGS = {t: t.name.lower().replace("_", "-") for t in EventType}
_SPELLINGS = {
    text: t for t in EventType for text in (_SLUGS[t], t.name, _SLUGS[t].upper(), t.name.lower(), str(t.value))
}


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone, e.g. 2026-11-27T10:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00
        raise ValueError("the timestamp has no UTC equivalent (it is at the edge of the calendar)") from None


EventTypeSlug = Annotated[
    EventType,
    BeforeValidator(EventType.parse),
    PlainSerializer(_SLUGS.__getitem__, return_type=str),
    WithJsonSchema({"type": "string", "enum": [t.slug for t in EventType]}),
]
"""An event type that travels as its slug (`dial-in`) and is read from a slug, a name or a number."""

WrittenEventType = Annotated[
    EventTypeSlug,
    WithJsonSchema({"anyOf": [{"type": "string", "enum": list(_SPELLINGS)}, {"type": "integer", "minimum": 0,
                                                                              "maximum": 4}]}, mode="validation"),
]
"""The event type of a CallEvent, which producers write: its JSON Schema takes VoipNow's number (0-4) and the usual
names too, as the model does (which also takes them in any case and with spaces around)."""

UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Extension = Annotated[str, AfterValidator(canonical_extension)]
Parameter = Annotated[str, Field(max_length=1024)]


def _tenant_optional(schema: dict[str, Any]) -> None:
    """As the model reads an event: the tenant may be left out (it is then the extension's organization)."""
    schema["required"].remove("tenant")


class CallEvent(BaseModel):
    """A call event. Unknown extra fields are kept and ignored, for forward compatibility."""

    model_config = ConfigDict(extra="allow", frozen=True, json_schema_extra=_tenant_optional)

    schema_version: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")  # no control characters
    type: WrittenEventType
    occurred_at: UtcDatetime
    tenant: str = Field(min_length=1, max_length=32)
    extension: Extension

    CallID: Parameter = ""
    CallerIDNum: Parameter = ""
    CallerIDName: Parameter = ""
    CalledDID: Parameter = ""
    CalledExtension: Parameter = ""
    CallStatus: Parameter = ""
    CallFlow: Parameter = ""
    CallerExtension: Parameter = ""
    CalledNumber: Parameter = ""

    @model_validator(mode="before")
    @classmethod
    def _tenant_from_extension(cls, data: Any) -> Any:
        """The tenant may be left out, or written without its leading zeros (`3`): it is then the organization
        code of the extension, as written there (`0003`), so one tenant always reads the same."""
        if isinstance(data, dict) and isinstance(extension := data.get("extension"), str):
            tenant = data.get("tenant")
            if isinstance(tenant, str) and len(tenant) >= ORG_CODE_DIGITS and extension.startswith(tenant + "*"):
                return data  # the usual case, kept cheap: every event passes here
            try:
                org = tenant_of(canonical_extension(extension))
            except ValueError:  # a bad extension is reported by its own validator
                return data
            if not tenant or (isinstance(tenant, str) and tenant.zfill(len(org)) == org):
                data = {**data, "tenant": org}
        return data

    @model_validator(mode="after")
    def _tenant_owns_extension(self) -> CallEvent:
        if tenant_of(self.extension) != self.tenant:
            raise ValueError(f"extension {self.extension} does not belong to tenant {self.tenant}")
        return self

    @property
    def parameters(self) -> dict[str, str]:
        """The nine default request parameters, exact names, in order."""
        return {name: getattr(self, name) for name in PARAMETER_NAMES}
