"""The web UI's dependencies and its route class, which turns control-plane errors into pages.

`UiSession` is the signed-in caller (from the session cookie) with the CSRF token of its forms;
`Csrf` checks the hidden field of a POST form against it. Errors answer pages, not JSON:
sign-in needed → 303 to the sign-in page; CSRF → 403; missing or out of reach → 404 (one page for both);
database down → 503.
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

from control.api.deps import Db
from control.errors import ControlError, Forbidden, InvalidInput, NotFound, Unauthorized, Unavailable
from control.service import Caller, authenticate
from control.ui import session
from control.ui.render import PREFIX, error_page

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedIn:
    caller: Caller
    token: str
    csrf: str


def get_session(request: Request, db: Db) -> SignedIn:
    token = request.cookies.get(session.SESSION_COOKIE)
    if not token:
        raise Unauthorized("sign in first")
    caller = authenticate(db, token, now=datetime.now(UTC))
    return SignedIn(caller, token, session.csrf_token(token))


UiSession = Annotated[SignedIn, Depends(get_session)]


async def check_csrf(request: Request, signed_in: UiSession) -> None:
    """The form's hidden `csrf` field must be the session's token (the form is already parsed and cached)."""
    form = await request.form()
    if not session.csrf_ok(signed_in.token, form.get(session.CSRF_FIELD)):
        raise Forbidden("the form's security token is missing or stale", code="csrf_invalid")


Csrf = Depends(check_csrf)


def redirect(url: str) -> RedirectResponse:
    """POST-redirect-GET (303), and the way back to the sign-in page."""
    return RedirectResponse(url, status_code=303)


def _page_for(error: Exception) -> Response:
    if isinstance(error, Unauthorized):
        response: Response = redirect(f"{PREFIX}/")
        session.clear_cookie(response, session.SESSION_COOKIE)
        return response
    if isinstance(error, Forbidden):
        return error_page(403, "Form expired", "This form has expired or did not come from this site. "
                          "Go back, reload the page and try again.")
    if isinstance(error, NotFound):
        return error_page(404, "Not found", "There is no such extension or request, or you cannot manage it.")
    if isinstance(error, InvalidInput):
        return error_page(400, "Invalid request", error.message)
    log.warning("web UI: %s", error)
    return error_page(503, "Temporarily unavailable", "The service cannot reach its database. "
                      "Try again in a moment.")


UI_ERRORS = (ControlError, psycopg.OperationalError)


class UiRoute(APIRoute):
    """Answers the control plane's errors (raised by dependencies or handlers) with HTML pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except UI_ERRORS as error:
                if isinstance(error, ControlError) and not isinstance(
                    error, Unauthorized | Forbidden | NotFound | InvalidInput | Unavailable
                ):
                    raise
                return _page_for(error)

        return handle
