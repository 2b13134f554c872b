"""The web UI's sign-in checks its CSRF design before it reads a body, over real HTTP against the real PostgreSQL:
a cross-site post (which SameSite=Lax leaves without the pre-session cookie, or which the browser marks
`Sec-Fetch-Site: cross-site`) gets the same 403 page whatever its body, and costs no parsing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from control.api.bodylimit import MAX_BODY_BYTES
from control.ui import session
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.ui import Browser

BODIES: dict[str, dict[str, Any]] = {
    "a sign-in form": {"data": {"client_id": "cli_x", "client_secret": "s", "csrf": "0" * 64}},
    "a broken multipart body": {"content": b"--x\r\nContent-Disposition: form-data\r\n\r\ncut short",
                                "headers": {"content-type": "multipart/form-data; boundary=x"}},
    "a body over the size cap": {"content": b"a" * (MAX_BODY_BYTES + 1),
                                 "headers": {"content-type": "application/x-www-form-urlencoded"}},
    "JSON": {"json": {"client_id": "cli_x"}},
}


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:
        yield server


def test_a_post_without_the_pre_session_cookie_is_refused_the_same_whatever_its_body(api: ApiServer) -> None:
    answers = []
    for body in BODIES.values():
        with Browser(api.url) as stranger:
            answers.append(stranger.post("/ui/signin", **body))
    assert [answer.status_code for answer in answers] == [403] * len(BODIES), [a.text[:200] for a in answers]
    assert len({answer.text for answer in answers}) == 1
    assert "Form expired" in answers[0].text


def test_a_post_the_browser_marks_cross_site_is_refused_before_its_body_even_with_the_cookie(
        api: ApiServer, tenant: Tenant) -> None:
    cross_site = {"Sec-Fetch-Site": "cross-site"}
    with Browser(api.url) as browser:
        token = browser.csrf("/ui/")  # the pre-session cookie and its form's token, as a visit leaves them
        assert session.SIGNIN_COOKIE in browser.cookies
        answers = [browser.post("/ui/signin", headers={**cross_site, **body.pop("headers", {})}, **body)
                   for body in ({**each} for each in BODIES.values())]
        right = browser.post("/ui/signin", headers=cross_site, data={
            "client_id": tenant.client.client_id, "client_secret": tenant.client.client_secret, "csrf": token})
        assert [answer.status_code for answer in [*answers, right]] == [403] * (len(BODIES) + 1)
        assert session.SESSION_COOKIE not in browser.cookies
        same_origin = browser.post("/ui/signin", headers={"Sec-Fetch-Site": "same-origin"}, data={
            "client_id": tenant.client.client_id, "client_secret": tenant.client.client_secret, "csrf": token})
        assert (same_origin.status_code, same_origin.headers["location"]) == (303, "/ui/extensions")


def test_with_the_cookie_a_broken_form_is_a_page_not_a_crash(api: ApiServer) -> None:
    with Browser(api.url) as browser:
        browser.get("/ui/")
        broken = browser.post("/ui/signin", **BODIES["a broken multipart body"])
    assert broken.status_code == 400 and "The form could not be read" in broken.text
