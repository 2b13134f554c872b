"""Signing in and out of the web UI with an API client's credentials, and the stylesheet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from control import service
from control.api.deps import AppSettings, Db, SourceAddress
from control.api.metrics import counting_sign_in
from control.errors import Forbidden, InvalidInput, Throttled, Unauthorized
from control.ui import flash_secrets, session
from control.ui.deps import Csrf, UiRoute, UiSession, form_text, redirect
from control.ui.render import PREFIX, STYLESHEET, page

router = APIRouter(prefix=PREFIX, route_class=UiRoute, include_in_schema=False)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def _needs_https(request: Request) -> bool:
    """The session cookie is Secure: over plain HTTP only loopback addresses keep it."""
    return request.url.scheme != "https" and (request.url.hostname or "") not in LOOPBACK_HOSTS


SESSION_ENDED = ("Your session has ended (it expired, or was signed out elsewhere). Sign in again to go back to the "
                 "page you were on. A change you were sending when it ended was not saved: make it again.")


def _signin_page(request: Request, nonce: str, *, error: str | None = None, client_id: str = "",
                 status: int = 200) -> HTMLResponse:
    ended = session.return_path(request.cookies.get(session.RETURN_COOKIE)) is not None
    response = page("signin.html", {"session": None, "csrf": session.csrf_token(nonce), "error": error,
                                    "notice": SESSION_ENDED if ended and error is None else None,
                                    "client_id": client_id, "needs_https": _needs_https(request)}, status=status)
    session.set_cookie(response, session.SIGNIN_COOKIE, nonce, max_age_s=session.SIGNIN_MAX_AGE_S)
    return response


def throttled_text(retry_after_s: int) -> str:
    """What a throttled person reads: why, for how long, and what to check meanwhile."""
    count, unit = (retry_after_s, "second") if retry_after_s < 120 else (-(-retry_after_s // 60), "minute")
    wait = f"{count} {unit}{'' if count == 1 else 's'}"
    return (f"Too many failed sign-in attempts for this client ID or from your network. Sign-in is paused for "
            f"about {wait}; check your client ID and client secret, then try again.")


@router.get("")
def without_slash() -> Response:
    """`/ui` as people type it, to the sign-in page: the app redirects no other path to its slashed twin."""
    return redirect(f"{PREFIX}/")


@router.get("/")
def signin_form(request: Request) -> Response:
    """The sign-in page; a signed-in browser goes straight to its extensions."""
    if request.cookies.get(session.SESSION_COOKIE):
        return redirect(f"{PREFIX}/extensions")
    return _signin_page(request, request.cookies.get(session.SIGNIN_COOKIE) or session.new_signin_nonce())


@dataclass(frozen=True)
class SignInForm:
    nonce: str  # the pre-session cookie the form's CSRF token was derived from
    client_id: str
    client_secret: str


async def posted_signin(request: Request) -> SignInForm:
    """The sign-in form, its CSRF checked first: a cross-site post (SameSite=Lax keeps the pre-session cookie
    home, and deps.SameSite refuses one the browser marks `Sec-Fetch-Site: cross-site`) is refused before its
    body is read, so it costs nothing and gets the same 403 whatever it holds. Routes take the fields from here,
    not as FastAPI form parameters, which would be read before any check."""
    nonce = request.cookies.get(session.SIGNIN_COOKIE)
    if not nonce:
        raise Forbidden("the sign-in form's security token is missing or stale", code="csrf_invalid")
    try:
        form = await request.form()
    except HTTPException as error:  # Starlette's answer to a malformed multipart body
        raise InvalidInput("form_invalid", f"The form could not be read ({error.detail}). Go back, reload the page "
                           "and send it again.") from None
    if not session.csrf_ok(nonce, form.get(session.CSRF_FIELD)):
        raise Forbidden("the sign-in form's security token is missing or stale", code="csrf_invalid")
    return SignInForm(nonce, form_text(form, "client_id") or "", form_text(form, "client_secret") or "")


@router.post("/signin")
def signin(posted: Annotated[SignInForm, Depends(posted_signin)], request: Request, db: Db, settings: AppSettings,
           address: SourceAddress) -> Response:
    """Client credentials → a bearer token in the session cookie (the same token POST /oauth/token issues),
    throttled like POST /oauth/token (the same counters)."""
    nonce, client_id, client_secret = posted.nonce, posted.client_id, posted.client_secret
    try:
        with counting_sign_in("ui"):
            issued = service.sign_in(db, service.SignInPolicy.from_settings(settings), client_id.strip(),
                                     client_secret, address=address, ttl_s=settings.token_ttl_s,
                                     now=datetime.now(UTC))
    except Throttled as throttled:
        refused = _signin_page(request, nonce, error=throttled_text(throttled.retry_after_s),
                               client_id=client_id, status=429)
        refused.headers["Retry-After"] = str(throttled.retry_after_s)
        return refused
    except Unauthorized:
        return _signin_page(request, nonce, error="Unknown client ID or wrong client secret.",
                            client_id=client_id, status=401)
    back = session.return_path(request.cookies.get(session.RETURN_COOKIE))
    response = redirect(back or f"{PREFIX}/extensions")
    session.set_cookie(response, session.SESSION_COOKIE, issued.access_token, max_age_s=issued.expires_in)
    session.clear_cookie(response, session.SIGNIN_COOKIE)
    if session.RETURN_COOKIE in request.cookies:
        session.clear_cookie(response, session.RETURN_COOKIE)
    return response


@router.post("/signout", dependencies=[Csrf])
def signout(request: Request, db: Db, signed_in: UiSession) -> Response:
    """Revokes the session's token, so the cookie is worthless even if it was copied, and deletes a new signing
    secret its flash has not shown yet: no later page of this session could show it."""
    service.revoke_token(db, signed_in.caller, signed_in.token)
    flash = session.decode_flash(request.cookies.get(session.FLASH_COOKIE), signed_in.token)
    if flash is not None and flash.secret_ref:
        flash_secrets.take(db, flash.secret_ref)
    response = redirect(f"{PREFIX}/")
    session.clear_cookie(response, session.SESSION_COOKIE)
    if session.FLASH_COOKIE in request.cookies:
        session.clear_cookie(response, session.FLASH_COOKIE)
    return response


@router.get("/static/ui.css")
def stylesheet() -> Response:
    return Response(STYLESHEET.read_bytes(), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})
