"""One request: its edit page with its delivery log, Edit, enable/disable, Remove, secret rotation and Send test."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from control import service
from control.api.deps import AppSettings, Db
from control.errors import InvalidInput, NotFound
from control.service import ExtensionRef, RequestView
from control.ui import session
from control.ui.deps import Csrf, PostedForm, SignedIn, UiRoute, UiSession, form_text
from control.ui.forms import RequestForm
from control.ui.render import PREFIX, extension_url, page, request_url, type_label
from control.ui.routes_pages import Posted, flash_redirect, saved_flash, shown_flash
from schemas.jobs import DeliveryJob

router = APIRouter(prefix=f"{PREFIX}/extensions/{{number}}/requests/{{type}}/{{id}}", route_class=UiRoute,
                   include_in_schema=False)
LOG_ATTEMPTS = 50
SHOWN_URL_CHARS = 200


def _overlap_text(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h" if not rest else f"{seconds // 60} min"


def request_page(db: psycopg.Connection[Any], signed_in: SignedIn, extension: ExtensionRef, request: RequestView,
                 *, overlap_s: int, form: RequestForm | None = None, flash: session.Flash | None = None,
                 start: object = None, status: int = 200) -> HTMLResponse:
    """`start`: how many of the newest attempts the log skips (`?start=50`: its second page)."""
    deliveries = service.list_deliveries(db, extension, request.type, request.id,
                                         {"count": LOG_ATTEMPTS, "startIndex": start})
    return page("request.html", {"session": signed_in, "extension": extension, "request": request,
                                 "form": form or RequestForm.of(request), "deliveries": deliveries,
                                 "overlap": _overlap_text(overlap_s), "flash": flash}, status=status)


def _extension(db: psycopg.Connection[Any], signed_in: SignedIn, number: str) -> ExtensionRef:
    return service.resolve_extension(db, signed_in.caller, "@me", number)


@router.get("")
def show(request: Request, db: Db, settings: AppSettings, signed_in: UiSession, number: str, type: str,
         id: str) -> HTMLResponse:
    """The edit page with the delivery log, paged by `?start=`; it shows the message of a Send test made from it,
    once."""
    found = _extension(db, signed_in, number)
    current = service.get_request(db, found, type, id)
    flash = shown_flash(request, db, signed_in,  # another page's message (a secret too) is not shown here, nor kept
                        lambda flash: (flash.extension, flash.request_id) == (found.number, current.id))
    response = request_page(db, signed_in, found, current, overlap_s=settings.secret_overlap_s, flash=flash,
                            start=request.query_params.get("start"))
    if session.FLASH_COOKIE in request.cookies:
        session.clear_cookie(response, session.FLASH_COOKIE)  # shown once, or dropped
    return response


@router.post("")
def edit(db: Db, settings: AppSettings, signed_in: UiSession, number: str, type: str, id: str,
         posted: Posted) -> Response:
    found = _extension(db, signed_in, number)
    form = RequestForm.posted(posted.model_dump())
    try:
        saved = service.edit_request(db, settings, found, type, id, form.data())
    except InvalidInput as error:
        current = service.get_request(db, found, type, id)
        return request_page(db, signed_in, found, current, overlap_s=settings.secret_overlap_s,
                            form=form.fail(error, settings), status=400)
    flash = saved_flash(found, "saved", saved)
    if form.data()["signing"] and not posted.signed_before and saved.secret is None and saved.request.signing:
        # another save of this form (a second click, another tab) turned signing on and showed the secret once
        flash = replace(flash, warning=True, message=f"{flash.message} It already signed: an earlier save made its "
                        "secret and showed it once. If you did not copy it, use Rotate secret on its page.")
    if saved.request.disabled_reason and not saved.request.enabled:  # e.g. its URL fixed after a 410: still off
        flash = replace(flash, message=f"{flash.message} It is still disabled: select Enable to resume delivery.",
                        warning=True)
    return flash_redirect(f"{extension_url(found.number)}#request-{saved.request.id}", db, signed_in, flash)


@router.post("/status")
def set_status(db: Db, settings: AppSettings, signed_in: UiSession, number: str, type: str, id: str,
               form: PostedForm) -> Response:
    """Enable (status=1) or disable (status=0) without touching anything else."""
    found = _extension(db, signed_in, number)
    saved = service.edit_request(db, settings, found, type, id, {"status": form_text(form, "status")})
    verb = "enabled" if saved.request.enabled else "disabled"
    return flash_redirect(f"{extension_url(found.number)}#request-{saved.request.id}", db, signed_in,
                          saved_flash(found, verb, saved))


@router.post("/remove", dependencies=[Csrf])
def remove(db: Db, signed_in: UiSession, number: str, type: str, id: str) -> Response:
    found = _extension(db, signed_in, number)  # another tenant's extension stays a 404
    try:
        current = service.get_request(db, found, type, id)
        service.remove_request(db, found, current.type, current.id)
    except NotFound:  # a second click, or another tab, was first: what the person asked for is done
        message = f"Request {id} was already removed."
    else:
        message = f"{type_label(current.type)} request {current.id} removed."
    return flash_redirect(extension_url(found.number), db, signed_in, session.Flash(message, found.number))


@router.post("/rotate", dependencies=[Csrf])
def rotate(db: Db, settings: AppSettings, signed_in: UiSession, number: str, type: str, id: str) -> Response:
    """A new signing secret, shown once on the next page; the previous one stays valid for the overlap."""
    found = _extension(db, signed_in, number)
    saved = service.rotate_secret(db, settings, found, type, id)
    return flash_redirect(f"{extension_url(found.number)}#request-{saved.request.id}", db, signed_in,
                          saved_flash(found, "has a new signing secret", saved))


def _shortened(url: str) -> str:
    """The URL as the flash message shows it: a long one (up to 2048 characters, each escaped up to 6 times its size
    in the flash cookie) would push the cookie past the 4 KB browsers keep, and the message would silently vanish."""
    return url if len(url) <= SHOWN_URL_CHARS else url[:SHOWN_URL_CHARS - 1] + "…"


def queued_text(job: DeliveryJob, *, relay_here: bool) -> str:
    """What Send test tells: the notification is only queued; the relay publishes it and a worker sends it."""
    queued = f"Test notification {job.job_id} queued for {_shortened(job.url)}."
    if not relay_here:  # `callapi-events api --no-relay`: nothing here publishes it
        return (f"{queued} This server runs without its relay: it is sent only while a relay runs "
                "(callapi-events relay). Its outcome then appears in the request's delivery log.")
    return f"{queued} Its outcome appears in the request's delivery log once a worker has sent it."


@router.post("/test")
def send_test(request: Request, db: Db, signed_in: UiSession, number: str, type: str, id: str,
              form: PostedForm) -> Response:
    """A test notification now, even for a disabled request (how one checks a URL before enabling it). The row's
    button returns to the extension's page, the edit page's (`back=request`) to the edit page and its delivery log.
    Past the per-request limit, UiRoute answers 429 with Retry-After."""
    found = _extension(db, signed_in, number)
    job = service.send_test_notification(db, found, type, id)
    if form_text(form, "back") == "request":
        url = request_url(found.number, job.event_type, job.request_id) + "#deliveries"
    else:
        url = f"{extension_url(found.number)}#request-{quote(job.request_id, safe='')}"
    relay_here = bool(getattr(request.app.state, "relay", False))
    message = queued_text(job, relay_here=relay_here)
    return flash_redirect(url, db, signed_in,
                          session.Flash(message, found.number, job.request_id, warning=not relay_here))
