"""Every state-changing route of the web UI refuses a post the browser marks `Sec-Fetch-Site: cross-site`, even with
the session cookie and a valid CSRF token, over real HTTP against the real PostgreSQL; same-origin and same-site
posts, and posts without the header (older browsers, scripts), work as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from control import service, ui
from control.ui import session
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.ui import Browser

URL = "http://127.0.0.1:9/hook"
# every state-changing UI route but sign-in (test_ui_signin_csrf.py), with the fields its form posts
FORMS: dict[str, dict[str, str]] = {
    "/ui/signout": {},
    "/ui/extensions/{number}/requests": {"type": "1", "method": "GET", "url": URL, "status": "1"},
    "/ui/extensions/{number}/requests/{type}/{id}": {"type": "0", "method": "POST", "url": URL + "/changed",
                                                     "status": "1", "note": "changed"},
    "/ui/extensions/{number}/requests/{type}/{id}/status": {"status": "0"},
    "/ui/extensions/{number}/requests/{type}/{id}/remove": {},
    "/ui/extensions/{number}/requests/{type}/{id}/rotate": {},
    "/ui/extensions/{number}/requests/{type}/{id}/test": {},
}


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:
        yield server


def state(conn: psycopg.Connection[Any], tenant: Tenant) -> list[tuple[Any, ...]]:
    """The extension's requests, their signing secrets, and the test notifications queued for them."""
    extension = {"id": tenant.extension.id, "number": tenant.extension.number}
    return [*conn.execute("SELECT * FROM event_requests WHERE extension_id = %(id)s ORDER BY id", extension),
            *conn.execute("SELECT * FROM signing_secrets WHERE extension_id = %(id)s ORDER BY id", extension),
            *conn.execute("SELECT * FROM test_notifications WHERE extension = %(number)s ORDER BY id", extension)]


def routes_of(router: APIRouter) -> Iterator[APIRoute]:
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        else:  # a router it includes (FastAPI keeps those as such)
            yield from routes_of(route.original_router)  # type: ignore[attr-defined]


def test_every_state_changing_route_is_listed() -> None:
    posted = {route.path for route in routes_of(ui.router) if route.methods - {"GET", "HEAD"}}
    assert posted == {*FORMS, "/ui/signin"}


def test_a_cross_site_post_is_refused_whatever_its_token(
        api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser) -> None:
    existing = service.add_request(conn, settings, tenant.extension, {"type": 0, "url": URL, "signing": True}).request
    before = state(conn, tenant)
    token = browser.csrf()
    for template, fields in FORMS.items():
        url = template.format(number=tenant.extension.number, type=0, id=existing.id)
        answer = browser.post(url, data={**fields, "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"})
        assert (answer.status_code, "Form expired" in answer.text) == (403, True), (url, answer.status_code)
    assert state(conn, tenant) == before
    assert session.SESSION_COOKIE in browser.cookies
    assert browser.get("/ui/extensions").status_code == 200  # still signed in: sign-out was refused too


@pytest.mark.parametrize("site", ["same-origin", "same-site", "none", None])
def test_a_post_from_this_site_or_without_the_header_works(
        api: ApiServer, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser, site: str | None) -> None:
    headers = {"Sec-Fetch-Site": site} if site else {}
    page = f"/ui/extensions/{tenant.extension.number}"
    token = browser.csrf(page)
    add = browser.post(f"{page}/requests", data={**FORMS["/ui/extensions/{number}/requests"], "csrf": token},
                       headers=headers)
    assert add.status_code == 303, add.text
    [added] = service.list_requests(conn, tenant.extension, service.parse_list_query({})).items
    target = f"{page}/requests/{int(added.type)}/{added.id}"
    disabled = browser.post(f"{target}/status", data={"status": "0", "csrf": token}, headers=headers)
    assert disabled.status_code == 303, disabled.text
    assert browser.post(f"{target}/remove", data={"csrf": token}, headers=headers).status_code == 303
    assert service.list_requests(conn, tenant.extension, service.parse_list_query({})).total == 0
    assert browser.post("/ui/signout", data={"csrf": token}, headers=headers).status_code == 303
    assert session.SESSION_COOKIE not in browser.cookies
