"""OAuth 2.0 client credentials: POST /oauth/token issues bearer tokens, POST /oauth/revoke revokes one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.security import HTTPAuthorizationCredentials

from control import service
from control.api.deps import AppSettings, CurrentCaller, Db, SourceAddress, bearer
from control.api.metrics import counting_sign_in
from control.api.models import ErrorBody, Status, TokenOut
from control.errors import InvalidInput

router = APIRouter(prefix="/oauth", tags=["oauth"])
FormText = Annotated[str, Form()]


@router.post("/token", response_model=TokenOut, responses={
    400: {"model": ErrorBody, "description": "invalid_request or unsupported_grant_type"},
    401: {"model": ErrorBody, "description": "invalid_client: unknown client or wrong secret"},
    429: {"model": ErrorBody, "description": "sign_in_throttled: too many failed sign-ins for this client_id "
          "or from this address; every sign-in is refused until the window ends",
          "headers": {"Retry-After": {"description": "seconds until sign-in is possible again",
                                      "schema": {"type": "integer"}}}},
    503: {"model": ErrorBody, "description": "the database cannot be reached"},
})
def token(db: Db, settings: AppSettings, address: SourceAddress, grant_type: FormText, client_id: FormText,
          client_secret: FormText) -> TokenOut:
    """Client credentials (form body) → a bearer token valid for `expires_in` seconds.

    Failed attempts are counted per client_id and per source address; past
    `CALLAPI_SIGN_IN_MAX_FAILURES_PER_CLIENT` / `_PER_ADDRESS` within `CALLAPI_SIGN_IN_WINDOW_S`, the answer
    is 429 with `Retry-After`, even for the right secret."""
    if grant_type != "client_credentials":
        raise InvalidInput("unsupported_grant_type", "grant_type must be client_credentials", field="grant_type")
    with counting_sign_in("oauth"):
        issued = service.sign_in(db, service.SignInPolicy.from_settings(settings), client_id, client_secret,
                                 address=address, ttl_s=settings.token_ttl_s, now=datetime.now(UTC))
    return TokenOut(access_token=issued.access_token, token_type=issued.token_type, expires_in=issued.expires_in)


@router.post("/revoke", response_model=Status, responses={
    401: {"model": ErrorBody, "description": "missing, expired or revoked token"},
    503: {"model": ErrorBody, "description": "the database cannot be reached"},
})
def revoke(db: Db, caller: CurrentCaller, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
           token: Annotated[str | None, Form()] = None) -> Status:
    """Revoke `token` (a token of the same client), or the bearer token itself when `token` is absent."""
    assert credentials is not None  # CurrentCaller already required it
    service.revoke_token(db, caller, token or credentials.credentials)
    return Status(status="revoked")
