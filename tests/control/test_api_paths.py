"""Paths over real HTTP (uvicorn on a free port) against the real PostgreSQL: a path is answered as sent. A trailing
slash answers 404 like any unknown path (not a redirect a client follows with its body), and an encoded slash
(`%2F`) is not decoded into a separator that routes to another resource; nor is a backslash (`%5C` or as is) or an
encoded NUL (`%00`) read into an identifier, which none contains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from control.service import list_requests, parse_list_query
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.test_api import base, error_code
from tests.control.ui import Browser

URL = "http://127.0.0.1:9/hook"
HTML = "text/html"


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:
        yield server


def urls_of(conn: psycopg.Connection[Any], tenant: Tenant) -> list[str]:
    return [request.url for request in list_requests(conn, tenant.extension, parse_list_query({})).items]


def added(http: httpx.Client, tenant: Tenant) -> str:
    answer = http.post(base(tenant.extension.number), json={"type": 0, "url": URL})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def unknown_path_code(http: httpx.Client) -> str:
    answer = http.get("/uapi/no-such-path")
    assert answer.status_code == 404
    return error_code(answer)


def test_a_trailing_slash_is_an_unknown_path_not_a_redirect(
        api: ApiServer, http: httpx.Client, conn: psycopg.Connection[Any], tenant: Tenant) -> None:
    request_id = added(http, tenant)
    resource = f"{base(tenant.extension.number)}/0/{request_id}"
    slashed = [("GET", f"{base(tenant.extension.number)}/", None), ("GET", f"{resource}/", None),
               ("PUT", f"{resource}/", {"note": "changed"}), ("DELETE", f"{resource}/", None),
               ("POST", f"{resource}/rotateSecret/", None), ("GET", f"{resource}/deliveries/", None),
               ("GET", "/healthz/", None), ("GET", "/openapi.json/", None)]
    code = unknown_path_code(http)
    for method, path, body in slashed:
        answer = http.request(method, path, json=body)
        assert (answer.status_code, error_code(answer)) == (404, code), (method, path, answer.text)
        assert "trailing slash" in answer.json()["error"]["message"]
    with api.client() as anonymous:
        token = http.headers["Authorization"].removeprefix("Bearer ")
        for path, form in [("/oauth/revoke/", {"token": token}), ("/oauth/token/", {
                "grant_type": "client_credentials", "client_id": tenant.client.client_id,
                "client_secret": tenant.client.client_secret})]:
            answer = anonymous.post(path, data=form)
            assert (answer.status_code, error_code(answer)) == (404, code), (path, answer.text)
    assert http.get(resource).json()["note"] == ""  # nothing was edited, removed or revoked


def test_a_client_that_follows_redirects_does_not_resend_its_body_elsewhere(
        api: ApiServer, http: httpx.Client, conn: psycopg.Connection[Any], tenant: Tenant) -> None:
    with api.client(http.headers["Authorization"].removeprefix("Bearer "), follow_redirects=True) as following:
        answer = following.post(f"{base(tenant.extension.number)}/", json={"type": 0, "url": URL})
    assert (answer.status_code, error_code(answer)) == (404, unknown_path_code(http)), answer.text
    assert not answer.history
    assert urls_of(conn, tenant) == []


def test_the_web_ui_keeps_its_addresses(api: ApiServer, browser: Browser) -> None:
    typed = browser.get("/ui")  # as people type it: to the sign-in page, which sends a signed-in browser on
    assert (typed.status_code, typed.headers["location"]) == (303, "/ui/")
    assert browser.get("/ui/").headers["location"] == "/ui/extensions"
    assert browser.get("/ui/extensions").status_code == 200
    slashed = browser.get("/ui/extensions/")
    assert slashed.status_code == 404 and slashed.headers["content-type"].startswith(HTML)  # a page, not JSON


@pytest.mark.parametrize("slash", ["%2F", "%2f", "%5C", "%5c", "\\", "%00"])
def test_an_encoded_slash_backslash_or_nul_in_a_segment_is_not_a_separator(
        api: ApiServer, http: httpx.Client, conn: psycopg.Connection[Any], tenant: Tenant, slash: str) -> None:
    request_id = added(http, tenant)
    extension = base(tenant.extension.number)
    code = unknown_path_code(http)
    encoded = [("GET", f"{extension}/0{slash}{request_id}", None),
               ("PUT", f"{extension}/0{slash}{request_id}", {"note": "changed"}),
               ("DELETE", f"{extension}/0{slash}{request_id}", None),
               ("GET", f"{extension}/0/{request_id}{slash}deliveries", None),
               ("POST", f"{extension}/0/{request_id}{slash}rotateSecret", None),
               ("GET", extension.removesuffix("/phoneCallEvents") + f"{slash}phoneCallEvents", None)]
    for method, path, body in encoded:
        answer = http.request(method, path, json=body)
        assert (answer.status_code, error_code(answer)) == (404, code), (method, path, answer.text)
        assert slash.upper() in answer.json()["error"]["message"]
    read = http.get(f"{extension}/0/{request_id}")
    assert (read.status_code, read.json()["note"], read.json()["signing"]) == (200, "", False)  # untouched
    found = http.get(f"{extension}?filterBy=url&filterValue={URL.replace('/', '%2F')}")  # the query is not the path
    assert [item["id"] for item in found.json()["entry"]] == [request_id], found.text


@pytest.mark.parametrize("escape", ["%2F", "%5C", "\\", "%00"])
def test_an_encoded_slash_backslash_or_nul_in_a_web_ui_address_is_a_not_found_page(
        api: ApiServer, http: httpx.Client, tenant: Tenant, browser: Browser, escape: str) -> None:
    request_id = added(http, tenant)
    page = f"/ui/extensions/{tenant.extension.number}"
    assert browser.get(f"{page}/requests/0/{request_id}").status_code == 200
    for path in (f"{page}/requests/0{escape}{request_id}", f"{page}{escape}requests/0/{request_id}",
                 f"{page}/requests/0/{request_id}{escape}"):
        answer = browser.get(path)
        assert answer.status_code == 404 and answer.headers["content-type"].startswith(HTML), (path, answer.text)
