"""The web UI's dependencies, its route class, which turns control-plane errors into pages, and `SameSite`, the
app's refusal of cross-site posts to it.

`UiSession` is the signed-in caller (from the session cookie) with the CSRF token of its forms;
`PostedForm` is a POST form, read after the session is checked and returned only with that token in its hidden
field (`Csrf` checks it for a form without other fields). Errors answer pages, not JSON:
sign-in needed → 303 to the sign-in page; CSRF → 403; missing or out of reach → 404 (one page for both);
database down → 503; a rate limit → 429 with Retry-After; any other refusal → its status, with its message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.datastructures import FormData, Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from control.api.deps import Db
from control.errors import ControlError, Forbidden, InvalidInput, NotFound, Throttled, Unauthorized, Unavailable
from control.service import Caller, authenticate
from control.service.validation import parse_type
from control.ui import session
from control.ui.render import PREFIX, error_page, extension_url, request_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedIn:
    caller: Caller
    token: str
    csrf: str


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class SameSite:
    """The app's check of every request under /ui that changes state, before any route: a form posted from another
    site (the browser marks it `Sec-Fetch-Site: cross-site`) is refused before the session or the body is read,
    besides each form's CSRF token. Same-origin and same-site posts pass, and so does one without the header (older
    browsers, scripts): the token guards them. Being the app's, not a router's, it covers a route added anywhere."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] not in SAFE_METHODS
                and (scope["path"] == PREFIX or scope["path"].startswith(f"{PREFIX}/"))
                and Headers(scope=scope).get("sec-fetch-site", "").lower() == "cross-site"):
            refused = Forbidden("the form was posted from another site", code="csrf_invalid")
            await _page_for(Request(scope), refused)(scope, receive, send)
            return
        await self._app(scope, receive, send)


def get_session(request: Request, db: Db) -> SignedIn:
    token = request.cookies.get(session.SESSION_COOKIE)
    if not token:
        raise Unauthorized("sign in first")
    caller = authenticate(db, token, now=datetime.now(UTC))
    return SignedIn(caller, token, session.csrf_token(token))


UiSession = Annotated[SignedIn, Depends(get_session)]


async def posted_form(request: Request, signed_in: UiSession) -> FormData:
    """The POST form, read only after the session is checked (a broken form without one is sent to sign in, as
    any other), and returned only when its hidden `csrf` field is the session's token. Routes take their fields
    from it rather than as FastAPI form parameters, which would be read before any dependency."""
    try:
        form = await request.form()
    except HTTPException as error:  # Starlette's answer to a malformed multipart body
        raise InvalidInput("form_invalid", f"The form could not be read ({error.detail}). Go back, reload the page "
                           "and send it again.") from None
    if not session.csrf_ok(signed_in.token, form.get(session.CSRF_FIELD)):
        raise Forbidden("the form's security token is missing or stale", code="csrf_invalid")
    return form


PostedForm = Annotated[FormData, Depends(posted_form)]
Csrf = Depends(posted_form)


def form_text(form: FormData, name: str) -> str | None:
    """A text field of a posted form; None when missing or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else None


def redirect(url: str) -> RedirectResponse:
    """POST-redirect-GET (303), and the way back to the sign-in page."""
    return RedirectResponse(url, status_code=303)


def _sentence(message: str) -> str:
    """A control-plane message ("request r1 was sent …") as a sentence on a page."""
    text = message[:1].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _way_back(request: Request) -> tuple[str, str]:
    """The page the refused form was on, as far as the address tells: the request's, the extension's, or the list."""
    params = request.path_params
    number, type_, id_ = params.get("number"), params.get("type"), params.get("id")
    if number and type_ and id_:
        try:
            return request_url(number, parse_type(type_), id_), f"Back to request {id_}"
        except InvalidInput:
            pass
    if number:
        return extension_url(number), f"Back to extension {number}"
    return f"{PREFIX}/extensions", "Back to your extensions"


def _ended_in_use(request: Request) -> bool:
    """Whether a refused session ended while its pages were in use: a form posted from one of them (the browser
    drops the cookie at the token's expiry, so it may come without one), or a cookie whose token was revoked."""
    if request.url.path == f"{PREFIX}/signout":
        return False
    return request.method not in SAFE_METHODS or session.SESSION_COOKIE in request.cookies


def _page_for(request: Request, error: Exception) -> Response:
    if isinstance(error, Unauthorized):
        response: Response = redirect(f"{PREFIX}/")
        if _ended_in_use(request):  # the sign-in page says so, and signing in leads back to the page
            session.set_cookie(response, session.RETURN_COOKIE, _way_back(request)[0],
                               max_age_s=session.SIGNIN_MAX_AGE_S)
        session.clear_cookie(response, session.SESSION_COOKIE)
        return response
    if isinstance(error, Forbidden):
        return error_page(403, "Form expired", "This form has expired or did not come from this site. "
                          "Go back, reload the page and try again.")
    if isinstance(error, NotFound):
        return error_page(404, "Not found", "There is no such extension or request, or you cannot manage it.")
    if isinstance(error, InvalidInput):
        return error_page(400, "Invalid request", error.message)
    if isinstance(error, psycopg.DataError):
        return error_page(400, "Invalid request", "A value in this request cannot be stored. Check it and try again.")
    if isinstance(error, Unavailable | psycopg.OperationalError | psycopg.errors.UndefinedTable):
        log.warning("web UI: %s", error)  # UndefinedTable: a database never migrated
        return error_page(503, "Temporarily unavailable", "The service cannot reach its database. "
                          "Try again in a moment.")
    assert isinstance(error, ControlError)
    back = _way_back(request)
    if isinstance(error, Throttled):
        refused = error_page(429, "Too many requests", _sentence(error.message), back=back)
        refused.headers["Retry-After"] = str(error.retry_after_s)
        return refused
    if error.status >= 500:
        log.error("web UI: %s", error)
        return error_page(500, "Something went wrong", "The change could not be made; it has been logged. "
                          "Try again in a moment.", back=back)
    return error_page(error.status, "Not done", _sentence(error.message), back=back)


UI_ERRORS = (ControlError, psycopg.OperationalError, psycopg.DataError, psycopg.errors.UndefinedTable)


class UiRoute(APIRoute):
    """Answers every control-plane error (raised by dependencies or handlers) with an HTML page of its status:
    a person with a browser never gets the API's JSON, nor a 500 for a refusal such as a rate limit."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except UI_ERRORS as error:
                return _page_for(request, error)

        return handle
