"""Errors of the control plane. Each carries the public error `code` (CONTRACT.md) and the HTTP `status`.

ControlError                      root; `code`, `status`, `message`
├── InvalidInput (400)            bad input; `code` names the field: pce_type_invalid, pce_method_invalid,
│                                 pce_status_invalid, pce_url_invalid, pce_note_invalid, pce_id_invalid,
│                                 pce_signing_invalid, extension_invalid, paging_invalid, filter_invalid,
│                                 sort_invalid, request_invalid, field_unknown (a body field the resource
│                                 does not have); `field` is the offending field or None
├── Unauthorized (401)            unauthorized (bearer token), invalid_client (client credentials);
│                                 `challenge` is the WWW-Authenticate answered: the scheme to authenticate with
├── Forbidden (403)               forbidden
├── NotFound (404)                not_found: missing, or outside the caller's tenancy (never told apart)
├── LimitReached (409)            pce_limit_reached: the extension has its maximum number of requests
├── Throttled (429)               sign_in_throttled: too many failed sign-ins for a client_id or from an
│                                 address; `retry_after_s` is when the window ends
└── Unavailable (503)             service_unavailable: PostgreSQL or Kafka cannot be reached
"""

from __future__ import annotations


class ControlError(Exception):
    """Root of the control plane's errors; `str(error)` is the message, safe to show to the caller."""

    status = 500
    default_code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class InvalidInput(ControlError):
    status = 400
    default_code = "request_invalid"

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class Unauthorized(ControlError):
    status = 401
    default_code = "unauthorized"

    def __init__(self, message: str, *, code: str | None = None, challenge: str = "Bearer") -> None:
        super().__init__(message, code=code)
        self.challenge = challenge


class Forbidden(ControlError):
    status = 403
    default_code = "forbidden"


class NotFound(ControlError):
    status = 404
    default_code = "not_found"


class LimitReached(ControlError):
    status = 409
    default_code = "pce_limit_reached"


class NotSigning(ControlError):
    status = 409
    default_code = "pce_not_signing"


class KeyReused(ControlError):
    status = 422
    default_code = "idempotency_key_reused"


class Throttled(ControlError):
    status = 429
    default_code = "sign_in_throttled"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class Unavailable(ControlError):
    status = 503
    default_code = "service_unavailable"
