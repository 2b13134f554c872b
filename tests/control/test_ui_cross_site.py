"""Every state-changing route of the web UI refuses a post the browser marks `Sec-Fetch-Site: cross-site`, even with
the session cookie and a valid CSRF token, over real HTTP against the real PostgreSQL; same-origin and same-site
posts, and posts without the header (older browsers, scripts), work as before. The app refuses them, not a router:
a route added straight onto the app is refused too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI, Response
from fastapi.routing import iter_route_contexts

from control import service
from control.api import create_app
from control.ui import session
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.ui import Browser

URL = "http://127.0.0.1:9/hook"
# every state-changing UI route but sign-in, with the fields its form posts
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


def changing_state(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route of the app under /ui that is not GET or HEAD, in routers it includes or not."""
    return sorted((method, context.path) for context in iter_route_contexts(app.routes)
                  if context.path is not None and (context.path == "/ui" or context.path.startswith("/ui/"))
                  for method in set(getattr(context, "methods", None) or ()) - {"GET", "HEAD"})


def test_every_state_changing_route_is_listed(settings: Settings) -> None:
    assert {path for _, path in changing_state(create_app(settings))} == {*FORMS, "/ui/signin"}


ADDED = "/ui/added-straight-onto-the-app"


def test_a_cross_site_request_to_any_state_changing_route_of_the_app_is_refused_whatever_its_token(
        settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant) -> None:
    """Walks the app's routes, with one added onto the app outside the UI's router: each answers the 403 page to a
    cross-site post holding a valid session and token (a route's own checks would let it through)."""
    app = create_app(settings)
    app.post(ADDED, status_code=204)(lambda: Response(status_code=204))
    existing = service.add_request(conn, settings, tenant.extension, {"type": 0, "url": URL, "signing": True}).request
    credentials = {"client_id": tenant.client.client_id, "client_secret": tenant.client.client_secret}
    with ApiServer(settings, app=app) as api, Browser(api.url) as browser, Browser(api.url) as visitor:
        assert browser.sign_in(**credentials).status_code == 303
        before = state(conn, tenant)
        token, visitor_token = browser.csrf(), visitor.csrf("/ui/")
        for method, template in changing_state(app):
            url = template.format(number=tenant.extension.number, type=0, id=existing.id)
            by, form = (visitor, {**credentials, "csrf": visitor_token}) if template == "/ui/signin" else (
                browser, {**FORMS.get(template, {}), "csrf": token})
            answer = by.request(method, url, data=form, headers={"Sec-Fetch-Site": "cross-site"})
            assert (answer.status_code, "Form expired" in answer.text) == (403, True), (method, url, answer.status_code)
        assert state(conn, tenant) == before
        assert session.SESSION_COOKIE not in visitor.cookies  # sign-in was refused
        assert browser.get("/ui/extensions").status_code == 200  # still signed in: sign-out was refused too
        assert browser.post(ADDED, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 204  # it answers


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
