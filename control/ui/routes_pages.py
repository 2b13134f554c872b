"""Picking an extension, and the extension page: its requests by event type, their last attempts, Add."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from control import service
from control.api.deps import AppSettings, Db
from control.errors import InvalidInput, KeyReused, LimitReached
from control.service import DeliveryPage, ExtensionRef, RequestView
from control.service.validation import parse_type
from control.ui import flash_secrets, session
from control.ui.deps import PostedForm, SignedIn, UiRoute, UiSession, form_text, redirect
from control.ui.forms import GENERAL, RequestForm
from control.ui.render import PREFIX, extension_url, page, type_label
from schemas.events import EventType

router = APIRouter(prefix=PREFIX, route_class=UiRoute, include_in_schema=False)
MAX_TILES = 200
MAX_ROWS = 1000
LAST_ATTEMPTS = 3
SECRET_GONE = ("Its signing secret can no longer be shown (it expired, or another tab showed it): use Rotate secret "
               "on the request's page to get a new one.")


class PostedRequest(BaseModel):
    """The request form as posted; every field optional, so a missing one gets the service's message."""

    type: str | None = None
    method: str | None = None
    url: str | None = None
    status: str | None = None
    note: str | None = None
    signing: str | None = None
    add_key: str | None = None  # the Add form's own key: the same form sent twice adds one request
    view: str | None = None  # the event type the page was filtered to (`?type=`), to return to
    signed_before: str | None = None  # the edit form's: whether the request signed when the form was shown


def posted_request(form: PostedForm) -> PostedRequest:
    return PostedRequest(**{name: form_text(form, name) for name in PostedRequest.model_fields})


Posted = Annotated[PostedRequest, Depends(posted_request)]


@dataclass(frozen=True)
class Row:
    request: RequestView
    deliveries: DeliveryPage


def _extension(db: psycopg.Connection[Any], signed_in: SignedIn, number: str) -> ExtensionRef:
    return service.resolve_extension(db, signed_in.caller, "@me", number)


@router.get("/extensions")
def extensions(db: Db, signed_in: UiSession, q: str = "") -> HTMLResponse:
    """The extensions the caller may manage (a provider: its organizations')."""
    reachable = service.list_extensions(db, signed_in.caller)
    needle = q.strip().replace("*", "")
    matching = [e for e in reachable if needle in e.number.replace("*", "")]
    return page("extensions.html", {"session": signed_in, "q": q.strip(), "extensions": matching[:MAX_TILES],
                                    "hidden": max(0, len(matching) - MAX_TILES)})


def _rows(db: psycopg.Connection[Any], extension: ExtensionRef) -> tuple[list[Row], int]:
    query = service.parse_list_query({"count": MAX_ROWS, "sortBy": "created"})
    listed = service.list_requests(db, extension, query)
    rows = [Row(item, service.list_deliveries(db, extension, item.type, item.id, {"count": LAST_ATTEMPTS}))
            for item in listed.items]
    return rows, listed.total - len(listed.items)


def extension_page(db: psycopg.Connection[Any], signed_in: SignedIn, extension: ExtensionRef, *,
                   selected: EventType | None = None, form: RequestForm | None = None,
                   flash: session.Flash | None = None, status: int = 200) -> HTMLResponse:
    rows, hidden = _rows(db, extension)
    by_type = {event_type: [row for row in rows if row.request.type == event_type] for event_type in EventType}
    shown = [selected] if selected is not None else list(EventType)
    return page("extension.html", {
        "session": signed_in, "extension": extension, "selected": selected, "flash": flash,
        "groups": [(event_type, by_type[event_type]) for event_type in shown],
        "counts": {event_type: len(found) for event_type, found in by_type.items()},
        "total": len(rows), "hidden": hidden, "form": form or RequestForm.blank(selected or EventType.DIAL_IN),
        "add_key": secrets.token_urlsafe(16),  # a new one per page shown: each shown form is one Add
    }, status=status)


def _selected(params: Mapping[str, str]) -> EventType | None:
    value = params.get("type")
    return None if not value else parse_type(value)


@router.get("/extensions/{number}")
def extension(request: Request, db: Db, signed_in: UiSession, number: str) -> HTMLResponse:
    """The page "CallAPI Published Events for Extension {ext_no}"; `?type=dial-in` shows one event type."""
    found = _extension(db, signed_in, number)
    flash = shown_flash(request, db, signed_in,  # another extension's message (its secret too) is not shown here
                        lambda flash: flash.extension == found.number)
    response = extension_page(db, signed_in, found, selected=_selected(request.query_params), flash=flash)
    if session.FLASH_COOKIE in request.cookies:
        session.clear_cookie(response, session.FLASH_COOKIE)  # shown once
    return response


def shown_flash(request: Request, db: psycopg.Connection[Any], signed_in: SignedIn,
                belongs_here: Callable[[session.Flash], bool]) -> session.Flash | None:
    """The flash cookie's message if it belongs on this page, with its secret. The secret is taken (deleted) even
    when the message is dropped, as the page then clears the cookie that referred to it: shown once, or never."""
    flash = session.decode_flash(request.cookies.get(session.FLASH_COOKIE), signed_in.token)
    if flash is None:
        return None
    secret = flash_secrets.take(db, flash.secret_ref) if flash.secret_ref else None
    if not belongs_here(flash):
        return None
    if flash.secret_ref and secret is None:
        return replace(flash, secret_ref=None, message=f"{flash.message} {SECRET_GONE}", warning=True)
    return replace(flash, secret=secret, secret_ref=None)


def flash_redirect(url: str, db: psycopg.Connection[Any], signed_in: SignedIn, flash: session.Flash) -> Response:
    """Redirect to `url`, which shows `flash` once. A secret stays in PostgreSQL, the cookie carries its reference:
    the cookie is signed, not encrypted, and the next page may be served by another replica."""
    if flash.secret is not None:
        flash = replace(flash, secret=None, secret_ref=flash_secrets.keep(db, flash.secret))
        url = url.split("#", 1)[0] + "#secret"  # shown once, at the top: open there, not at a row further down
    response = redirect(url)
    session.set_cookie(response, session.FLASH_COOKIE, session.encode_flash(flash, signed_in.token),
                       max_age_s=session.FLASH_MAX_AGE_S)
    return response


def saved_flash(extension: ExtensionRef, verb: str, saved: service.SavedRequest) -> session.Flash:
    request = saved.request
    return session.Flash(f"{type_label(request.type)} request {request.id} {verb}.", extension.number, request.id,
                         saved.secret)


@router.get("/extensions/{number}/requests")
def add_address(number: str) -> Response:
    """A refused Add answers at this address: going to it again shows the extension's page."""
    return redirect(extension_url(number))


@router.post("/extensions/{number}/requests")
def add(db: Db, settings: AppSettings, signed_in: UiSession, number: str, posted: Posted) -> Response:
    """Add; errors re-render the page with the message next to the field, success redirects (PRG)."""
    found = _extension(db, signed_in, number)
    form = RequestForm.posted(posted.model_dump())
    try:
        view = _selected({"type": posted.view or ""})
    except InvalidInput:  # not a form this page made: show every type
        view = None
    try:  # a double click, or a resend of a slow answer, sends the same key: the request the first one added
        saved = service.add_request(db, settings, found, form.data(), idempotency_key=posted.add_key or None)
    except InvalidInput as error:
        return extension_page(db, signed_in, found, selected=view, form=form.fail(error, settings), status=400)
    except LimitReached as error:
        form.errors = {GENERAL: error.message}
        return extension_page(db, signed_in, found, selected=view, form=form, status=409)
    except KeyReused:  # sent again with other values after the first had added its request
        form.errors = {GENERAL: "This form had already added a request (see the list above), so these values were "
                                "not added. Check them and select Add request again to add another."}
        return extension_page(db, signed_in, found, selected=view, form=form, status=409)
    filtered = f"?type={view.slug}" if view == saved.request.type else ""  # back to the view it shows in
    url = f"{extension_url(found.number)}{filtered}#request-{saved.request.id}"
    return flash_redirect(url, db, signed_in, saved_flash(found, "added", saved))
