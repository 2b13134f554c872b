"""Request and response bodies of the REST API; they generate /openapi.json.

Input models are loose on purpose (VoipNow clients send numbers as strings and names): the service
layer validates every field and answers with the field's error code. They are closed, though: a field the
resource does not have (a typo such as `stauts`) is refused, not ignored (bodies.py). The resource's own
read-only fields are accepted and ignored, so a client may send back what it read.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic.json_schema import JsonDict

Flexible = StrictInt | StrictStr


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. pce_url_invalid, not_found, unauthorized")
    message: str = Field(description="what was wrong and what to do")


class ErrorBody(BaseModel):
    error: ErrorDetail


READ_ONLY: JsonDict = {"readOnly": True}  # marks the fields of the resource that a body may carry but not change


class EditRequestBody(BaseModel):
    """Edit: only the fields present change (null counts as absent); the read-only ones never do."""

    model_config = ConfigDict(extra="forbid")

    type: Flexible | None = Field(None, description="0-4 or dial-in, dial-out, hangup, answer-in, answer-out")
    method: Flexible | None = Field(None, description="0 or GET, 1 or POST")
    url: StrictStr | None = Field(None, description="http(s) URL, at most 2048 characters")
    status: StrictBool | Flexible | None = Field(None, description="1 enabled, 0 disabled")
    note: StrictStr | None = Field(None, description="at most 1024 characters")
    signing: StrictBool | Flexible | None = Field(
        None, description="true: generate a signing secret (returned once); false: remove it"
    )
    id: StrictStr | None = Field(None, description="read-only, ignored", json_schema_extra=READ_ONLY)
    modified: StrictStr | None = Field(None, description="read-only, ignored", json_schema_extra=READ_ONLY)
    links: dict[str, StrictStr] | None = Field(None, description="read-only, ignored", json_schema_extra=READ_ONLY)
    secret: StrictStr | None = Field(None, description="read-only, ignored: `signing: true` or rotateSecret make "
                                     "one", json_schema_extra=READ_ONLY)

    @classmethod
    def writable(cls) -> list[str]:
        return [name for name, field in cls.model_fields.items() if field.json_schema_extra != READ_ONLY]

    @classmethod
    def read_only(cls) -> list[str]:
        return [name for name, field in cls.model_fields.items() if field.json_schema_extra == READ_ONLY]

    def present(self) -> dict[str, object]:
        """The writable fields sent, for the service layer."""
        sent = self.model_dump(include=set(self.writable()), exclude_unset=True)
        return {name: value for name, value in sent.items() if value is not None}


class AddRequestBody(EditRequestBody):
    """Add: `type` and `url` are required; method defaults to 0 (GET), status to 1, note to "", signing to false."""

    type: Flexible = Field(description="0-4 or dial-in, dial-out, hangup, answer-in, answer-out")
    url: StrictStr = Field(description="http(s) URL, at most 2048 characters")


class Links(BaseModel):
    self: str


class EventRequestOut(BaseModel):
    id: str = Field(description="the Request ID")
    type: int = Field(ge=0, le=4)
    method: int = Field(ge=0, le=1, description="0 GET, 1 POST")
    url: str
    status: int = Field(ge=0, le=1, description="0 disabled, 1 enabled")
    note: str
    modified: datetime
    links: Links
    signing: bool
    secret: str | None = Field(None, description="whsec_… : present only in the answer that generated it")


class Paging(BaseModel):
    startIndex: int
    itemsPerPage: int
    totalResults: int


class EventRequestList(BaseModel):
    paging: Paging
    entry: list[EventRequestOut]


class Removed(BaseModel):
    removed: int = Field(description="how many requests were removed")


class QueuedTest(BaseModel):
    job_id: str = Field(description="webhook-id of the test notification: find its attempts in `…/deliveries`")
    event_id: str
    call_id: str = Field(description="the CallID it carries (starts with `test.`)")


class DeliveryOut(BaseModel):
    job_id: str = Field(description="webhook-id of the notification")
    attempt: int
    event_id: str
    event_type: str
    outcome: str = Field(description="delivered, retry, failed or disabled")
    status_code: int | None
    error: str | None
    duration_ms: float
    attempted_at: datetime


class DeliveryPaging(Paging):
    totalResultsCapped: bool = Field(False, description="true: the log holds more attempts than totalResults "
                                     "(counted up to 10,000, or to the end of the page asked for)")


class DeliveryList(BaseModel):
    paging: DeliveryPaging
    entry: list[DeliveryOut]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="seconds")


class Status(BaseModel):
    status: str
