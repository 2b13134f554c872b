"""The web UI over real HTTP (uvicorn on a free port) against the real PostgreSQL: sessions, CSRF, tenancy,
validation messages, signing secrets shown once, escaping and the delivery log."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from control import service
from control.errors import Unauthorized
from control.service import admin
from control.service.queries import DELIVERIES_COUNTED
from control.ui import routes_pages, session
from schemas.attempts import Outcome
from schemas.events import EventType
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant, make_tenant, new_org
from tests.control.ui import Browser, attempt, readable_in_cookies, write_attempts

PUBLIC_URL = "https://93.184.215.14/hook"  # a public address literal: no DNS needed
CAP = 4


@pytest.fixture(scope="module")
def ui_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Private URLs refused, as in production; a small cap so reaching it is cheap."""
    return make_settings(allow_private_urls=False, max_requests_per_extension=CAP)


@pytest.fixture(scope="module")
def api(ui_settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(ui_settings) as server:
        yield server


def page_of(number: str) -> str:
    return f"/ui/extensions/{quote(number, safe='*')}"


def add(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant, **fields: Any) -> service.RequestView:
    data = {"type": 0, "url": PUBLIC_URL, **fields}
    return service.add_request(conn, settings, tenant.extension, data).request


def requests_of(conn: psycopg.Connection[Any], tenant: Tenant) -> list[service.RequestView]:
    return service.list_requests(conn, tenant.extension, service.parse_list_query({})).items


def test_an_unexpected_error_on_a_page_answers_a_page(browser: Browser, tenant: Tenant,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")  # in the project's own code, not a refusal it knows

    monkeypatch.setattr(routes_pages, "extension_page", broken)
    answer = browser.get(page_of(tenant.extension.number))
    assert (answer.status_code, answer.headers["content-type"].split(";")[0]) == (500, "text/html")
    assert "Something went wrong" in answer.text and "internal_error" not in answer.text


def test_signin_page_is_mobile_ready_accessible_and_locked_down(api: ApiServer) -> None:
    with Browser(api.url) as browser:
        answer = browser.get("/ui/")
    assert answer.status_code == 200
    body = answer.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body
    assert '<label for="client_id">' in body and 'id="client_id"' in body
    assert '<label for="client_secret">' in body and 'type="password"' in body
    assert "script-src" not in answer.headers["content-security-policy"]  # default-src 'none': no scripts
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"
    css = httpx_get(api, "/ui/static/ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@media" in css.text


def httpx_get(api: ApiServer, path: str) -> Any:
    with api.client() as client:
        return client.get(path)


def test_signin_sets_a_secure_httponly_lax_cookie_and_wrong_secret_stays_out(api: ApiServer, tenant: Tenant) -> None:
    with Browser(api.url) as browser:
        wrong = browser.sign_in(tenant.client.client_id, "not-the-secret")
        assert wrong.status_code == 401
        assert "Unknown client ID or wrong client secret." in wrong.text
        assert "__Host-callapi-session" not in browser.cookies
        right = browser.sign_in(tenant.client.client_id, tenant.client.client_secret)
        assert (right.status_code, right.headers["location"]) == (303, "/ui/extensions")
        header = next(h for h in browser.set_cookie_headers if h.startswith("__Host-callapi-session="))
        attributes = {part.strip().lower() for part in header.split(";")[1:]}
        assert {"httponly", "secure", "samesite=lax", "path=/", "max-age=3600"} <= attributes
        listing = browser.get("/ui/extensions")
        assert listing.status_code == 200
        assert tenant.extension.number in listing.text
        assert browser.get("/ui/").headers["location"] == "/ui/extensions"


def test_pages_need_a_session(api: ApiServer, tenant: Tenant) -> None:
    with Browser(api.url) as browser:
        for path in ("/ui/extensions", page_of(tenant.extension.number)):
            answer = browser.get(path)
            assert (answer.status_code, answer.headers["location"]) == (303, "/ui/")
        browser.cookies["__Host-callapi-session"] = "forged-token"
        answer = browser.get("/ui/extensions")
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/")
        assert "__Host-callapi-session" not in browser.cookies  # the bad cookie is cleared


def test_signin_without_its_csrf_token_is_refused(api: ApiServer, tenant: Tenant) -> None:
    form = {"client_id": tenant.client.client_id, "client_secret": tenant.client.client_secret}
    with Browser(api.url) as browser:
        assert browser.post("/ui/signin", data=form).status_code == 403  # no pre-session cookie at all
        browser.get("/ui/")
        assert browser.post("/ui/signin", data=form).status_code == 403  # cookie, but no field
        assert browser.post("/ui/signin", data={**form, "csrf": "0" * 64}).status_code == 403
        assert "__Host-callapi-session" not in browser.cookies


def test_every_post_form_refuses_a_missing_wrong_or_foreign_csrf_token(
    api: ApiServer, ui_settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    existing = add(conn, ui_settings, tenant, note="keep me", signing=True)
    before = requests_of(conn, tenant)
    target = f"{page_of(tenant.extension.number)}/requests/dial-in/{existing.id}"
    forms = {
        f"{page_of(tenant.extension.number)}/requests": {"type": "1", "method": "GET", "url": PUBLIC_URL},
        target: {"type": "0", "method": "POST", "url": PUBLIC_URL + "/changed", "status": "1", "note": "changed"},
        f"{target}/status": {"status": "0"},
        f"{target}/remove": {},
        f"{target}/rotate": {},
        f"{target}/test": {},
        "/ui/signout": {},
    }
    with Browser(api.url) as other:  # a second session of the same client: its token must not work here
        other.sign_in(tenant.client.client_id, tenant.client.client_secret)
        foreign = other.csrf()
    assert foreign != browser.csrf()
    for url, data in forms.items():
        for token in (None, "", "f" * 64, foreign):
            sent = data if token is None else {**data, "csrf": token}
            answer = browser.post(url, data=sent)
            assert answer.status_code == 403, (url, token, answer.status_code)
            assert "Form expired" in answer.text
    assert requests_of(conn, tenant) == before
    assert browser.get("/ui/extensions").status_code == 200  # still signed in: sign-out was refused too


BROKEN_MULTIPART = {"content": b"--x\r\nContent-Disposition: form-data\r\n\r\ncut short",
                    "headers": {"content-type": "multipart/form-data; boundary=x"}}


def test_a_broken_form_is_read_only_after_the_session(
    api: ApiServer, ui_settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    existing = add(conn, ui_settings, tenant)
    target = f"{page_of(tenant.extension.number)}/requests/dial-in/{existing.id}"
    urls = [f"{page_of(tenant.extension.number)}/requests", target, *(f"{target}/{action}" for action in
            ("status", "remove", "rotate", "test")), "/ui/signout"]
    with Browser(api.url) as stranger:
        for url in urls:
            answer = stranger.post(url, **BROKEN_MULTIPART)
            assert (answer.status_code, answer.headers.get("location")) == (303, "/ui/"), url
    for url in urls:
        answer = browser.post(url, **BROKEN_MULTIPART)
        assert answer.status_code == 400, (url, answer.status_code)
        assert "The form could not be read" in answer.text
    assert requests_of(conn, tenant) == [existing]
    assert browser.get("/ui/extensions").status_code == 200  # still signed in


def test_another_tenants_extension_and_requests_answer_404_like_missing_ones(
    api: ApiServer, ui_settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    other = make_tenant(conn)
    theirs = service.add_request(conn, ui_settings, other.extension, {"type": 2, "url": PUBLIC_URL,
                                                                       "note": "theirs"}).request
    missing_number = f"{tenant.extension.number.split('*')[0]}*999"
    missing = browser.get(page_of(missing_number))
    foreign = browser.get(page_of(other.extension.number))
    assert missing.status_code == foreign.status_code == 404
    assert missing.text == foreign.text
    assert other.extension.number not in foreign.text
    csrf = browser.csrf()
    mine_missing = f"{page_of(tenant.extension.number)}/requests/hangup/{theirs.id}"
    theirs_path = f"{page_of(other.extension.number)}/requests/hangup/{theirs.id}"
    for path in (mine_missing, theirs_path):
        assert browser.get(path).text == missing.text
        for action, data in (("", {"type": "2", "method": "GET", "url": PUBLIC_URL + "/x", "status": "1"}),
                             ("/status", {"status": "0"}), ("/remove", {}), ("/rotate", {}), ("/test", {})):
            answer = browser.post(path + action, data={**data, "csrf": csrf})
            if (path, action) == (mine_missing, "/remove"):  # already gone, as for any id: nothing told of theirs
                assert (answer.status_code, answer.headers["location"]) == (303, page_of(tenant.extension.number))
                continue
            assert (answer.status_code, answer.text) == (404, missing.text), path + action
    assert service.get_request(conn, other.extension, 2, theirs.id) == theirs
    assert browser.post(f"{page_of(other.extension.number)}/requests",
                        data={"type": "0", "url": PUBLIC_URL, "csrf": csrf}).status_code == 404
    assert requests_of(conn, other) == [theirs]


def test_a_provider_picks_among_its_organizations_extensions(api: ApiServer, conn: psycopg.Connection[Any]) -> None:
    provider = admin.create_provider(conn, "Hosting Co")
    first, second = make_tenant(conn, provider), make_tenant(conn, provider)
    extra = admin.create_extension(conn, new_org(conn, provider).id, "300")
    stranger = make_tenant(conn)
    client = admin.create_client(conn, provider.id)
    with Browser(api.url) as browser:
        browser.sign_in(client.client_id, client.client_secret)
        listing = browser.get("/ui/extensions").text
        for mine in (first.extension, second.extension, extra):
            assert f'href="{page_of(mine.number)}"' in listing
        assert stranger.extension.number not in listing
        found = browser.get("/ui/extensions", params={"q": extra.number}).text
        assert extra.number in found and first.extension.number not in found
        assert browser.get(page_of(second.extension.number)).status_code == 200
        assert browser.get(page_of(stranger.extension.number)).status_code == 404


def test_sign_out_revokes_the_token_and_clears_the_cookie(
    api: ApiServer, database_url: str, conn: psycopg.Connection[Any], browser: Browser
) -> None:
    token = browser.cookies["__Host-callapi-session"]
    service.authenticate(conn, token, now=datetime.now(UTC))
    answer = browser.post("/ui/signout", data={"csrf": browser.csrf()})
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/")
    assert "__Host-callapi-session" not in browser.cookies
    with pytest.raises(Unauthorized):
        service.authenticate(conn, token, now=datetime.now(UTC))
    browser.cookies["__Host-callapi-session"] = token  # a copied cookie is worthless now
    assert browser.get("/ui/extensions").headers["location"] == "/ui/"


def submit(browser: Browser, target: str, **fields: str) -> Any:
    return browser.post(target, data={"csrf": browser.csrf(), "type": "0", "method": "GET", "status": "1",
                                   "note": "", **fields})


def field_error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{name}-error">(.*?)</p>', page, re.S)
    assert found is not None, f"no message next to {name}"
    return html.unescape(found.group(1))


def test_bad_input_shows_the_services_messages_next_to_each_field(
    api: ApiServer, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    add_url = f"{page_of(tenant.extension.number)}/requests"
    answer = submit(browser, add_url, url="ftp://x", note="n" * 1025)
    assert answer.status_code == 400
    assert "must start with http:// or https://" in field_error(answer.text, "url")
    assert "longer than 1024" in field_error(answer.text, "note")
    assert 'value="ftp://x"' in answer.text  # what was typed stays in the form
    private = submit(browser, add_url, url="http://10.1.2.3/hook")
    assert private.status_code == 400 and "private" in field_error(private.text, "url")
    loopback = submit(browser, add_url, url="http://127.0.0.1:8080/")
    assert loopback.status_code == 400 and "loopback" in field_error(loopback.text, "url")
    assert requests_of(conn, tenant) == []
    made = submit(browser, add_url, url=PUBLIC_URL)
    assert made.status_code == 303
    edit_url = f"{page_of(tenant.extension.number)}/requests/dial-in/{requests_of(conn, tenant)[0].id}"
    edited = submit(browser, edit_url, url="http://[::1]/x", method="PUT")
    assert edited.status_code == 400
    assert "loopback" in field_error(edited.text, "url")
    assert "is not 0 (GET) or 1 (POST)" in field_error(edited.text, "method")
    assert requests_of(conn, tenant)[0].url == PUBLIC_URL



def test_a_note_with_line_breaks_fits_as_the_browser_counts_it(
    conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    # The text area counts a line break as one character against maxlength=1024, and the browser posts it
    # as CR LF (HTML form submission): the note is taken as typed, not refused as 1,056 characters long.
    typed = ("a" * 30 + "\n") * 33  # 1,023 characters in the text area
    add_url = f"{page_of(tenant.extension.number)}/requests"
    answer = submit(browser, add_url, url=PUBLIC_URL, note=typed.replace("\n", "\r\n"))
    assert answer.status_code == 303, field_error(answer.text, "note")
    [made] = requests_of(conn, tenant)
    assert made.note == typed
    edit_url = f"{page_of(tenant.extension.number)}/requests/dial-in/{made.id}"
    assert submit(browser, edit_url, url=PUBLIC_URL, note="first\r\nsecond").status_code == 303
    assert requests_of(conn, tenant)[0].note == "first\nsecond"


def test_the_address_a_refused_form_leaves_leads_back_to_a_page(tenant: Tenant, browser: Browser) -> None:
    # A refused Add answers at .../requests: going to that address again (Enter in the address bar) lands on
    # the extension's page, not on a JSON error; unknown UI addresses answer an HTML page too.
    add_url = f"{page_of(tenant.extension.number)}/requests"
    assert submit(browser, add_url, url="ftp://x").status_code == 400
    again = browser.get(add_url)
    assert (again.status_code, again.headers["location"]) == (303, page_of(tenant.extension.number))
    for missing, status in (("/ui/nowhere", 404), ("/ui/signout", 405)):
        answer = browser.get(missing)
        assert answer.status_code == status and answer.headers["content-type"].startswith("text/html"), missing
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")

def test_the_cap_is_reported_in_the_page(
    api: ApiServer, ui_settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    for _ in range(CAP):
        add(conn, ui_settings, tenant)
    answer = submit(browser, f"{page_of(tenant.extension.number)}/requests", url=PUBLIC_URL)
    assert answer.status_code == 409
    assert f"the maximum is {CAP}" in answer.text
    assert len(requests_of(conn, tenant)) == CAP


def test_a_new_signing_secret_is_shown_once(conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser) -> None:
    made = submit(browser, f"{page_of(tenant.extension.number)}/requests", url=PUBLIC_URL, signing="on")
    assert made.status_code == 303
    shown = browser.get(made.headers["location"])
    secret = re.search(r'value="(whsec_[A-Za-z0-9+/=]+)"', shown.text)
    assert secret is not None
    assert "It will not be shown again." in shown.text
    assert shown.headers["cache-control"] == "no-store"
    again = browser.get(page_of(tenant.extension.number))
    assert "whsec_" not in again.text and "signed" in again.text
    request = requests_of(conn, tenant)[0]
    assert request.signing
    rotated = browser.post(f"{page_of(tenant.extension.number)}/requests/dial-in/{request.id}/rotate",
                           data={"csrf": browser.csrf()})
    new_secret = re.search(r'value="(whsec_[^"]+)"', browser.get(rotated.headers["location"]).text)
    assert new_secret is not None and new_secret.group(1) != secret.group(1)


def test_a_new_signing_secret_never_travels_in_a_cookie(
    conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    made = submit(browser, f"{page_of(tenant.extension.number)}/requests", url=PUBLIC_URL, signing="on")
    shown = re.search(r'value="(whsec_[^"]+)"', browser.get(made.headers["location"]).text)
    assert shown is not None
    request = requests_of(conn, tenant)[0]
    rotated = browser.post(f"{page_of(tenant.extension.number)}/requests/dial-in/{request.id}/rotate",
                           data={"csrf": browser.csrf()})
    new = re.search(r'value="(whsec_[^"]+)"', browser.get(rotated.headers["location"]).text)
    assert new is not None and new.group(1) != shown.group(1)
    assert browser.set_cookie_headers
    for secret in (shown.group(1), new.group(1)):
        assert not readable_in_cookies(browser.set_cookie_headers, secret)
    assert "whsec_" not in browser.get(rotated.headers["location"]).text  # shown once
    assert conn.execute("SELECT count(*) FROM ui_flash_secrets WHERE secret = ANY(%s)",
                        ([shown.group(1), new.group(1)],)).fetchone() == (0,)  # deleted when shown


def test_a_secret_made_through_one_replica_is_shown_by_another(
    ui_settings: Settings, tenant: Tenant, browser: Browser
) -> None:
    """Behind a load balancer the page after Add may be served by another API process."""
    made = submit(browser, f"{page_of(tenant.extension.number)}/requests", url=PUBLIC_URL, signing="on")
    assert made.status_code == 303
    with ApiServer(ui_settings) as replica, Browser(replica.url) as other:
        other.cookies = dict(browser.cookies)
        shown = other.get(made.headers["location"])
        assert re.search(r'value="whsec_[^"]+"', shown.text) is not None
        assert "whsec_" not in other.get(made.headers["location"]).text


def test_an_expired_secret_is_not_shown_and_the_page_says_how_to_get_one(
    conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    made = submit(browser, f"{page_of(tenant.extension.number)}/requests", url=PUBLIC_URL, signing="on")
    flash = session.decode_flash(browser.cookies[session.FLASH_COOKIE], browser.cookies[session.SESSION_COOKIE])
    assert flash is not None and flash.secret is None and flash.secret_ref
    conn.execute("UPDATE ui_flash_secrets SET expires_at = now() - interval '1 second' WHERE ref = %s",
                 (flash.secret_ref,))
    page = html.unescape(browser.get(made.headers["location"]).text)
    assert "whsec_" not in page and f"request {flash.request_id} added." in page
    assert "use Rotate secret on the request's page to get a new one." in page
    assert conn.execute("SELECT count(*) FROM ui_flash_secrets WHERE ref = %s", (flash.secret_ref,)).fetchone() == (0,)


def test_a_flash_left_behind_by_another_page_is_cleared_not_shown_later(
    ui_settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    first = add(conn, ui_settings, tenant, url=PUBLIC_URL)
    made = submit(browser, f"{page_of(tenant.extension.number)}/requests", url=PUBLIC_URL, signing="on")
    assert made.status_code == 303  # its page is not opened: another request's edit page is
    flash = session.decode_flash(browser.cookies[session.FLASH_COOKIE], browser.cookies[session.SESSION_COOKIE])
    assert flash is not None and flash.secret_ref
    edit = browser.get(f"{page_of(tenant.extension.number)}/requests/dial-in/{first.id}")
    assert "whsec_" not in edit.text
    assert conn.execute("SELECT count(*) FROM ui_flash_secrets WHERE ref = %s", (flash.secret_ref,)).fetchone() == (0,)
    assert "whsec_" not in browser.get(page_of(tenant.extension.number)).text


def test_a_secret_is_shown_only_on_its_own_extensions_page(api: ApiServer, conn: psycopg.Connection[Any]) -> None:
    provider = admin.create_provider(conn, "Two offices")
    first, second = make_tenant(conn, provider), make_tenant(conn, provider)
    client = admin.create_client(conn, provider.id)
    with Browser(api.url) as browser:
        browser.sign_in(client.client_id, client.client_secret)
        made = submit(browser, f"{page_of(first.extension.number)}/requests", url=PUBLIC_URL, signing="on")
        assert made.status_code == 303
        elsewhere = browser.get(page_of(second.extension.number))
        assert elsewhere.status_code == 200 and "whsec_" not in elsewhere.text


def test_the_ui_stays_out_of_the_api_description(api: ApiServer) -> None:
    with api.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert paths and not [path for path in paths if path.startswith("/ui")]
        assert client.get("/ui").headers["location"].endswith("/ui/")


def test_a_tampered_flash_cookie_shows_nothing(tenant: Tenant, browser: Browser) -> None:
    browser.cookies["__Host-callapi-flash"] = "eyJtZXNzYWdlIjogIm93bmVkIn0.0000"
    assert "owned" not in browser.get(page_of(tenant.extension.number)).text


def test_user_text_is_escaped(
    ui_settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    add(conn, ui_settings, tenant, note='<script>alert("x")</script><b>bold</b>',
        url=PUBLIC_URL + '?q="><img/src=x/onerror=alert(1)>')
    page = browser.get(page_of(tenant.extension.number)).text
    assert "<script>alert" not in page and "<b>bold</b>" not in page and "<img/src" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page
    assert "&#34;&gt;&lt;img/src=x/onerror=alert(1)&gt;" in page


def test_pages_show_the_last_delivery_attempts_of_each_request(
    ui_settings: Settings, database_url: str, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    hangup = add(conn, ui_settings, tenant, type=2)
    quiet = add(conn, ui_settings, tenant, type=2)
    attempts = [attempt(tenant.extension, hangup.id, EventType.HANGUP, number=n, outcome=outcome, status_code=code,
                        ago_s=600 - n, error=error)
                for n, outcome, code, error in [(1, Outcome.RETRY, 503, None), (2, Outcome.RETRY, None, "timeout"),
                                                (3, Outcome.RETRY, 502, None), (4, Outcome.DELIVERED, 204, None)]]
    write_attempts(database_url, attempts)
    page = browser.get(page_of(tenant.extension.number), params={"type": "hangup"}).text
    row = page.split(f'id="request-{hangup.id}"', 1)[1].split("</tr>", 1)[0]
    assert [html.unescape(code) for code in re.findall(r'<span class="outcome \w+">([^<]+)</span>', row)] == [
        "204", "502", "timeout"]  # the newest three, newest first
    assert "all 4 attempts" in row
    assert "No attempts yet" in page.split(f'id="request-{quiet.id}"', 1)[1].split("</tr>", 1)[0]
    assert 'id="group-dial-in"' not in page  # filtered to Hangup
    log = browser.get(f"{page_of(tenant.extension.number)}/requests/hangup/{hangup.id}").text
    assert "Newest 4 of 4 attempts." in log
    assert browser.get(page_of(tenant.extension.number), params={"type": "ringing"}).status_code == 400


def test_a_long_delivery_log_is_counted_up_to_a_bound(
    ui_settings: Settings, database_url: str, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    busy = add(conn, ui_settings, tenant, type=2)
    write_attempts(database_url, [attempt(tenant.extension, busy.id, EventType.HANGUP, number=1,
                                          outcome=Outcome.DELIVERED, status_code=204, ago_s=n / 1000)
                                  for n in range(DELIVERIES_COUNTED + 5)])
    row = browser.get(page_of(tenant.extension.number)).text.split(f'id="request-{busy.id}"', 1)[1].split("</tr>", 1)[0]
    assert "all 10,000+ attempts" in row
    log = browser.get(f"{page_of(tenant.extension.number)}/requests/hangup/{busy.id}").text
    assert re.search(r"Newest \d+ of 10,000\+ attempts\.", log)


def test_changes_through_the_ui_redirect_and_land_in_the_database(
    conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    base = page_of(tenant.extension.number)
    made = submit(browser, f"{base}/requests", type="3", method="POST", url=PUBLIC_URL, note="answered")
    assert made.status_code == 303
    [request] = requests_of(conn, tenant)
    assert (request.type, request.method, request.note, request.enabled) == (EventType.ANSWER_IN, "POST",
                                                                             "answered", True)
    path = f"{base}/requests/answer-in/{request.id}"
    assert browser.post(f"{path}/status", data={"status": "0", "csrf": browser.csrf()}).status_code == 303
    assert not requests_of(conn, tenant)[0].enabled
    assert '<span class="state off">Disabled</span>' in browser.get(base).text
    moved = submit(browser, path, type="4", method="GET", url=PUBLIC_URL + "/out", status="0", note="moved")
    assert moved.status_code == 303
    [request] = requests_of(conn, tenant)
    assert (request.type, request.url, request.enabled) == (EventType.ANSWER_OUT, PUBLIC_URL + "/out", False)
    gone = browser.post(f"{base}/requests/answer-out/{request.id}/remove", data={"csrf": browser.csrf()})
    assert gone.status_code == 303
    assert f"Answer-Out request {request.id} removed." in browser.get(gone.headers["location"]).text
    assert requests_of(conn, tenant) == []


def test_a_refusal_of_the_service_answers_a_page_of_its_status_not_the_apis_json(
    ui_settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser
) -> None:
    unsigned = add(conn, ui_settings, tenant)  # its page has no Rotate button; a stale or crafted form still posts
    target = f"{page_of(tenant.extension.number)}/requests/dial-in/{unsigned.id}"
    answer = browser.post(f"{target}/rotate", data={"csrf": browser.csrf()})
    assert answer.status_code == 409 and answer.headers["content-type"].startswith("text/html"), answer.text
    text = html.unescape(answer.text)
    assert f"Request {unsigned.id} does not sign, so it has no secret to rotate" in text
    assert f'href="{target}">Back to request {unsigned.id}</a>' in text
    assert not service.get_request(conn, tenant.extension, 0, unsigned.id).signing
