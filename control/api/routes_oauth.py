"""OAuth 2.0 client credentials: POST /oauth/token issues bearer tokens, POST /oauth/revoke revokes one."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, Form, Header, Request
from fastapi.security import HTTPAuthorizationCredentials

from control import service
from control.api.deps import AppSettings, Db, SourceAddress, bearer, get_caller
from control.api.metrics import counting_sign_in
from control.api.models import ErrorBody, Status, TokenOut
from control.errors import InvalidInput, Unauthorized
from control.service import Caller
from schemas.repeats import repeated, said_once

router = APIRouter(prefix="/oauth", tags=["oauth"])
BASIC_CHALLENGE = 'Basic realm="callapi", charset="UTF-8"'
FormText = Annotated[str, Form()]
OptionalFormText = Annotated[str | None, Form()]


def client_refused(message: str) -> Unauthorized:
    """invalid_client, challenged for HTTP Basic: RFC 6749 5.2 wants the scheme the client used when it tried the
    Authorization header, and Basic is the only one this endpoint takes (never Bearer, the other endpoints')."""
    return Unauthorized(message, code="invalid_client", challenge=BASIC_CHALLENGE)


def is_basic(authorization: str | None) -> bool:
    return (authorization or "").partition(" ")[0].lower() == "basic"


def client_credentials(authorization: str | None, client_id: str | None, client_secret: str | None) -> tuple[str, str]:
    """The client's id and secret, from HTTP Basic (RFC 6749 2.3.1, what most OAuth libraries send) or from the
    form; one of the two (the form may repeat Basic's client_id, RFC 6749 3.2.1). Missing or unreadable
    credentials are a failed client authentication (invalid_client); two methods at once invalid_request."""
    if not is_basic(authorization):
        if client_id is None or client_secret is None:
            raise client_refused("send the client credentials: HTTP Basic base64(client_id:client_secret), or the "
                                 "form fields client_id and client_secret")
        return client_id, client_secret
    if client_secret is not None:
        raise InvalidInput("invalid_request", "send the client credentials once: HTTP Basic or the form, not both")
    encoded = (authorization or "").partition(" ")[2]
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, colon, password = "", "", ""
    if not colon:
        raise client_refused("the Authorization header is not Basic base64(client_id:client_secret) of UTF-8 text")
    user = unquote_plus(user)  # RFC 6749 2.3.1: form-encoded before base64
    if client_id is not None and client_id != user:
        raise InvalidInput("invalid_request", "the form's client_id is not the one in the Authorization header")
    return user, unquote_plus(password)


def refuse_repeated(items: list[tuple[str, object]]) -> None:
    """RFC 6749 3.2 (and RFC 7009 2.1 after it): request parameters MUST NOT be included more than once."""
    if names := repeated(items):
        raise InvalidInput("invalid_request", said_once(names), field=names[0])


async def form_parameters_once(request: Request) -> None:
    """The token request's form and query, each parameter at most once (FastAPI would keep the last copy)."""
    form = await request.form()  # the form FastAPI read for the route's fields, cached on the request
    refuse_repeated([*form.multi_items(), *request.query_params.multi_items()])


INVALID_CLIENT = {"model": ErrorBody, "headers": {"WWW-Authenticate": {
    "description": BASIC_CHALLENGE, "schema": {"type": "string"}}}}


@router.post("/token", response_model=TokenOut, responses={
    400: {"model": ErrorBody, "description": "invalid_request (a parameter missing, or sent more than once) or "
          "unsupported_grant_type"},
    401: {**INVALID_CLIENT, "description": "invalid_client: unknown client, wrong secret, or client credentials "
          "missing or unreadable; challenged for HTTP Basic"},
    429: {"model": ErrorBody, "description": "sign_in_throttled: too many failed sign-ins for this client_id "
          "or from this address; every sign-in is refused until the window ends",
          "headers": {"Retry-After": {"description": "seconds until sign-in is possible again",
                                      "schema": {"type": "integer"}}}},
    503: {"model": ErrorBody, "description": "the database cannot be reached"},
})
def token(db: Db, settings: AppSettings, address: SourceAddress, grant_type: FormText,
          once: Annotated[None, Depends(form_parameters_once)],
          client_id: OptionalFormText = None, client_secret: OptionalFormText = None,
          authorization: Annotated[str | None, Header()] = None) -> TokenOut:
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
        raise client_refused(refused.message) from None
    return TokenOut(access_token=issued.access_token, token_type=issued.token_type, expires_in=issued.expires_in)


def revoking_client(db: Db, settings: AppSettings, address: SourceAddress,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                    authorization: Annotated[str | None, Header()] = None) -> Caller:
    """Who revokes: the client by its own credentials in HTTP Basic (RFC 7009 2.1, what OAuth libraries send;
    throttled like sign-in), or by one of its bearer tokens. Checked before the form is read."""
    if not is_basic(authorization):
        return get_caller(db, credentials)
    client_id, client_secret = client_credentials(authorization, None, None)
    try:
        with counting_sign_in("oauth"):
            return service.authenticate_client(db, service.SignInPolicy.from_settings(settings), client_id,
                                               client_secret, address=address, now=datetime.now(UTC))
    except Unauthorized as refused:
        raise client_refused(refused.message) from None


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
REVOKE_FORM = {"type": "object", "properties": {
    "token": {"type": "string", "description": "the token to revoke, one of the same client's; absent, with a "
              "bearer token: that token itself"},
    "token_type_hint": {"type": "string", "description": "accepted and ignored: access tokens are the only kind"}}}


async def token_to_revoke(request: Request, caller: Annotated[Caller, Depends(revoking_client)]) -> str | None:
    """The form's `token`, read only once the caller is checked (`caller`, unused, puts that first): a caller
    without credentials is told to sign in (401) whatever its body, not about its multipart (400). A body that is
    not a form (JSON, text), or a form of which nothing can be read (a truncated multipart), is refused: read as
    no `token`, it would revoke the bearer token itself."""
    raw = await request.body()  # kept on the request: the form is parsed from it below
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in FORM_TYPES and raw:
        raise InvalidInput("invalid_request", "send the token to revoke as a form field, with Content-Type: "
                           f"application/x-www-form-urlencoded (token=…), not {media_type or 'no Content-Type'}")
    async with request.form() as form:  # malformed multipart: Starlette's 400 request_invalid
        if raw and not form:
            raise InvalidInput("invalid_request", "no form field can be read from the body: send the token to "
                               "revoke as application/x-www-form-urlencoded (token=…)")
        refuse_repeated([*form.multi_items(), *request.query_params.multi_items()])
        token = form.get("token")
    if token is not None and not isinstance(token, str):
        raise InvalidInput("invalid_request", "token: send it as a form field, not a file")
    return token


@router.post("/revoke", response_model=Status, responses={
    400: {"model": ErrorBody, "description": "invalid_request: no `token` (required with HTTP Basic), not a "
          "form field, a body that is not a form, or a parameter sent more than once"},
    401: {"model": ErrorBody, "description": "unauthorized: missing, expired or revoked bearer token "
          "(challenged for Bearer); invalid_client: wrong client credentials in HTTP Basic (challenged for Basic)"},
    429: {"model": ErrorBody, "description": "sign_in_throttled: too many failed sign-ins (HTTP Basic)"},
    503: {"model": ErrorBody, "description": "the database cannot be reached"},
}, openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": REVOKE_FORM}}}})
def revoke(db: Db, caller: Annotated[Caller, Depends(revoking_client)],
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
           token: Annotated[str | None, Depends(token_to_revoke)]) -> Status:
    """Revoke `token` (RFC 7009) if it is the caller's client's: authenticate with the client's credentials by
    HTTP Basic, or with a bearer token, which `token` absent revokes itself. An unknown token, or another
    client's, answers 200 all the same and revokes nothing."""
    if token is None:
        if credentials is None:  # HTTP Basic: RFC 7009 2.1 requires the token
            raise InvalidInput("invalid_request", "send the token to revoke as the form field token", field="token")
        token = credentials.credentials
    service.revoke_token(db, caller, token)
    return Status(status="revoked")
