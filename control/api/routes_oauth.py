"""OAuth 2.0 client credentials: POST /oauth/token issues bearer tokens, POST /oauth/revoke revokes one."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, Form, Header, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from control import service
from control.api.deps import AppSettings, CurrentCaller, Db, SourceAddress, bearer
from control.api.errors import error_response
from control.api.metrics import counting_sign_in
from control.api.models import ErrorBody, Status, TokenOut
from control.errors import InvalidInput, Unauthorized

router = APIRouter(prefix="/oauth", tags=["oauth"])
BASIC_CHALLENGE = 'Basic realm="callapi", charset="UTF-8"'
FormText = Annotated[str, Form()]
OptionalFormText = Annotated[str | None, Form()]


def client_credentials(authorization: str | None, client_id: str | None, client_secret: str | None) -> tuple[str, str]:
    """The client's id and secret, from HTTP Basic (RFC 6749 2.3.1, what most OAuth libraries send) or from the
    form; exactly one of the two."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        if client_id is None or client_secret is None:
            raise InvalidInput("invalid_request", "send client_id and client_secret (form fields, or HTTP Basic)")
        return client_id, client_secret
    if client_id is not None or client_secret is not None:
        raise InvalidInput("invalid_request", "send the client credentials once: HTTP Basic or the form, not both")
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, colon, password = "", "", ""
    if not colon:
        raise InvalidInput("invalid_request", "the Authorization header is not Basic base64(client_id:client_secret)")
    return unquote_plus(user), unquote_plus(password)  # RFC 6749 2.3.1: form-encoded before base64


@router.post("/token", response_model=TokenOut, responses={
    400: {"model": ErrorBody, "description": "invalid_request or unsupported_grant_type"},
    401: {"model": ErrorBody, "description": "invalid_client: unknown client or wrong secret"},
    429: {"model": ErrorBody, "description": "sign_in_throttled: too many failed sign-ins for this client_id "
          "or from this address; every sign-in is refused until the window ends",
          "headers": {"Retry-After": {"description": "seconds until sign-in is possible again",
                                      "schema": {"type": "integer"}}}},
    503: {"model": ErrorBody, "description": "the database cannot be reached"},
})
def token(db: Db, settings: AppSettings, address: SourceAddress, grant_type: FormText,
          client_id: OptionalFormText = None, client_secret: OptionalFormText = None,
          authorization: Annotated[str | None, Header()] = None) -> TokenOut | JSONResponse:
    """Client credentials (HTTP Basic, or form fields `client_id` and `client_secret`) → a bearer token valid for
    `expires_in` seconds.

    Failed attempts are counted per client_id and per source address; past
    `CALLAPI_SIGN_IN_MAX_FAILURES_PER_CLIENT` / `_PER_ADDRESS` within `CALLAPI_SIGN_IN_WINDOW_S`, the answer
    is 429 with `Retry-After`, even for the right secret."""
    if grant_type != "client_credentials":
        raise InvalidInput("unsupported_grant_type", "grant_type must be client_credentials", field="grant_type")
    client_id, client_secret = client_credentials(authorization, client_id, client_secret)
    try:
        with counting_sign_in("oauth"):
            issued = service.sign_in(db, service.SignInPolicy.from_settings(settings), client_id, client_secret,
                                     address=address, ttl_s=settings.token_ttl_s, now=datetime.now(UTC))
    except Unauthorized as refused:
        if authorization is None or not authorization.lower().startswith("basic "):
            raise
        # RFC 6749 5.2: a client that authenticated by HTTP Basic is challenged for Basic
        return error_response(401, refused.code, refused.message, {"WWW-Authenticate": BASIC_CHALLENGE})
    return TokenOut(access_token=issued.access_token, token_type=issued.token_type, expires_in=issued.expires_in)


REVOKE_FORM = {"type": "object", "properties": {"token": {
    "type": "string", "description": "a token of the same client; absent: the bearer token itself"}}}


async def token_to_revoke(request: Request, caller: CurrentCaller) -> str | None:
    """The form's `token`, read only once the bearer token is checked (`caller`, unused, puts that first): a caller
    without one is told to sign in (401) whatever its body, not about its multipart (400)."""
    async with request.form() as form:  # malformed multipart: Starlette's 400 request_invalid
        token = form.get("token")
    if token is not None and not isinstance(token, str):
        raise InvalidInput("invalid_request", "token: send it as a form field, not a file")
    return token


@router.post("/revoke", response_model=Status, responses={
    401: {"model": ErrorBody, "description": "missing, expired or revoked token"},
    503: {"model": ErrorBody, "description": "the database cannot be reached"},
}, openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": REVOKE_FORM}}}})
def revoke(db: Db, caller: CurrentCaller, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
           token: Annotated[str | None, Depends(token_to_revoke)]) -> Status:
    """Revoke `token` (a token of the same client), or the bearer token itself when `token` is absent."""
    assert credentials is not None  # CurrentCaller already required it
    service.revoke_token(db, caller, token or credentials.credentials)
    return Status(status="revoked")
