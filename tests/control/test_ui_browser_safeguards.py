"""The web UI in a real headless Chromium against the real API server and PostgreSQL: what keeps a person's slips
from costing them a request, a change or a look at what happened."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from playwright.sync_api import Browser, expect

from control import service
from control.ui import session
from control.ui.render import extension_url, request_url
from schemas.attempts import Outcome
from schemas.events import EventType
from schemas.settings import Settings
from tests.control.browser import launched_chromium
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.test_ui_browser import HOOK, signed_in_page
from tests.control.ui import attempt, write_attempts

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def api(make_settings: Callable[..., Settings]) -> Iterator[ApiServer]:
    with ApiServer(make_settings(allow_private_urls=False)) as server:
        yield server


@pytest.fixture(scope="module")
def chromium(api: ApiServer, settings: Settings) -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


def ids_of(conn: psycopg.Connection[Any], tenant: Tenant) -> list[str]:
    return [r.id for r in service.list_requests(conn, tenant.extension, service.parse_list_query({})).items]


def test_remove_on_the_request_page_asks_to_confirm_first(
    chromium: Browser, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
) -> None:
    made = service.add_request(conn, settings, tenant.extension, {"type": 0, "url": HOOK}).request
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (_, page):
        page.goto(api.url + request_url(number, made.type, made.id))
        page.get_by_text(f"Remove request {made.id}", exact=True).click()
        confirm = page.get_by_role("button", name=f"Remove {made.id} for good")
        expect(confirm).to_be_visible()
        assert made.id in ids_of(conn, tenant)
        confirm.click()
        expect(page.get_by_role("status")).to_contain_text(f"Dial-In request {made.id} removed.")
        assert made.id not in ids_of(conn, tenant)


def test_the_add_form_sent_twice_adds_one_request(
    chromium: Browser, api: ApiServer, conn: psycopg.Connection[Any], tenant: Tenant,
) -> None:
    """A double click, or a resend of a slow answer, posts the same form again: it must not add a twin."""
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (context, page):
        page.get_by_label("URL", exact=True).fill(HOOK)
        with page.expect_request(lambda sent: sent.method == "POST") as posted:
            page.get_by_role("button", name="Add request").click()
        expect(page.get_by_role("status")).to_contain_text("added.")
        cookies = "; ".join(f"{cookie['name']}={cookie['value']}" for cookie in context.cookies())
        headers = {"Content-Type": posted.value.headers["content-type"], "Cookie": cookies}
        form = posted.value.post_data or ""
        again = context.request.post(posted.value.url, data=form, max_redirects=0, headers=headers)
        assert again.status == 303
        page.reload()
        assert len(ids_of(conn, tenant)) == 1
        expect(page.locator("tr[id^=request-]")).to_have_count(1)
        changed = form.replace(quote(HOOK, safe=""), quote(HOOK + "?second", safe=""))
        refused = context.request.post(posted.value.url, data=changed, max_redirects=0, headers=headers)
        assert refused.status == 409
        assert "had already added a request" in refused.text()
        assert len(ids_of(conn, tenant)) == 1


@pytest.mark.parametrize("ending", ["expired", "revoked"])
def test_a_session_that_ends_while_editing_says_so_and_signs_in_back_to_the_page(
    chromium: Browser, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant, ending: str,
) -> None:
    """Expired: the browser drops the cookie at its Max-Age (the token's lifetime). Revoked: the cookie is still
    sent, its token refused."""
    made = service.add_request(conn, settings, tenant.extension, {"type": 2, "url": HOOK}).request
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (context, page):
        page.goto(api.url + request_url(number, made.type, made.id))
        page.get_by_label("Notes", exact=True).fill("Billing, second site")
        if ending == "expired":
            context.clear_cookies(name=session.SESSION_COOKIE)
        else:
            conn.execute("UPDATE access_tokens SET revoked_at = now() WHERE api_client_id ="
                         " (SELECT id FROM api_clients WHERE client_id = %s)", (tenant.client.client_id,))
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("Your session has ended")
        expect(page.get_by_role("alert")).to_contain_text("not saved")
        page.get_by_label("Client ID", exact=True).fill(tenant.client.client_id)
        page.get_by_label("Client secret", exact=True).fill(tenant.client.client_secret)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(f"Edit request {made.id}")
        assert page.url == api.url + request_url(number, made.type, made.id)
        assert service.get_request(conn, tenant.extension, made.type, made.id).note == ""


def test_the_whole_delivery_log_can_be_paged_through(
    chromium: Browser, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
    database_url: str,
) -> None:
    made = service.add_request(conn, settings, tenant.extension, {"type": 0, "url": HOOK}).request
    write_attempts(database_url, [
        attempt(tenant.extension, made.id, EventType.DIAL_IN, number=1, outcome=Outcome.DELIVERED, status_code=200,
                ago_s=3600 - index) for index in range(60)])
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (_, page):
        page.goto(api.url + request_url(number, made.type, made.id))
        log = page.locator("table.log tbody tr")
        expect(log).to_have_count(50)
        page.get_by_role("link", name="Older attempts").click()
        expect(log).to_have_count(10)
        expect(page.get_by_text("Attempts 51 to 60 of 60")).to_be_visible()
        expect(page.get_by_role("link", name="Older attempts")).to_have_count(0)
        page.get_by_role("link", name="Newer attempts").click()
        expect(log).to_have_count(50)
        page.goto(api.url + request_url(number, made.type, made.id) + "?start=1000")
        page.get_by_role("link", name="Newest attempts").click()
        expect(log).to_have_count(50)


def test_remove_sent_twice_says_the_request_is_gone_instead_of_not_found(
    chromium: Browser, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
) -> None:
    """A double click on Remove … for good: the second post finds the request removed by the first."""
    made = service.add_request(conn, settings, tenant.extension, {"type": 0, "url": HOOK}).request
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (context, page):
        page.locator(f"#request-{made.id} summary").click()
        with page.expect_request(lambda sent: sent.method == "POST") as posted:
            page.get_by_role("button", name=f"Remove {made.id} for good").click()
        expect(page.get_by_role("status")).to_contain_text(f"Dial-In request {made.id} removed.")
        cookies = "; ".join(f"{cookie['name']}={cookie['value']}" for cookie in context.cookies())
        again = context.request.post(posted.value.url, data=posted.value.post_data or "", max_redirects=0, headers={
            "Content-Type": posted.value.headers["content-type"], "Cookie": cookies})
        assert (again.status, again.headers.get("location")) == (303, extension_url(number))
        flash = next(header["value"] for header in again.headers_array if header["name"].lower() == "set-cookie")
        shown = context.request.get(api.url + extension_url(number),
                                    headers={"Cookie": f"{cookies}; {flash.split(';')[0]}"})
        assert f"Request {made.id} was already removed." in shown.text()


def test_on_a_phone_the_times_of_the_last_deliveries_say_their_time_zone(
    chromium: Browser, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
    database_url: str,
) -> None:
    """The table's header, which says UTC, is hidden on a phone: each card's label must say it."""
    made = service.add_request(conn, settings, tenant.extension, {"type": 0, "url": HOOK}).request
    write_attempts(database_url, [attempt(tenant.extension, made.id, EventType.DIAL_IN, number=1,
                                          outcome=Outcome.DELIVERED, status_code=200, ago_s=60)])
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (desktop, _):
        phone = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                     storage_state=desktop.storage_state())
        try:
            page = phone.new_page()
            page.goto(api.url + extension_url(number))
            cell = page.locator(f"#request-{made.id} td").filter(has=page.locator("time"))
            expect(cell).to_have_count(1)
            label = cell.evaluate("td => getComputedStyle(td, '::before').content")
            assert "UTC" in label, label
        finally:
            phone.close()


def test_adding_from_a_page_filtered_to_one_event_type_starts_with_that_type(
    chromium: Browser, api: ApiServer, tenant: Tenant,
) -> None:
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (_, page):
        page.get_by_role("link", name="Hangup").click()
        expect(page.get_by_label("Event", exact=True)).to_have_value(str(int(EventType.HANGUP)))
        page.get_by_label("URL", exact=True).fill(HOOK)
        page.get_by_role("button", name="Add request").click()
        expect(page.get_by_role("status")).to_contain_text("Hangup request")
        assert "type=hangup" in page.url


def _a_long_list(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    """Twelve requests: more than a browser window shows above the Add form."""
    for index in range(12):
        service.add_request(conn, settings, tenant.extension, {"type": index % 5, "url": f"{HOOK}?n={index}"})


def test_a_refused_add_shows_its_messages_without_scrolling_past_the_list(
    chromium: Browser, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
) -> None:
    """The Add form sits below every request: the page that explains a refusal opens at the form."""
    _a_long_list(conn, settings, tenant)
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (_, page):
        page.get_by_label("URL", exact=True).fill("ftp://files.example.com/drop")
        page.get_by_role("button", name="Add request").click()
        expect(page.locator("#url-error")).to_contain_text("must start with http:// or https://")
        expect(page.locator("#url-error")).to_be_in_viewport()
        expect(page.get_by_label("URL", exact=True)).to_have_value("ftp://files.example.com/drop")


def test_a_new_signing_secret_is_in_view_when_the_page_opens(
    chromium: Browser, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
) -> None:
    """It is shown once, at the top: the page must not open scrolled down to the request's row below a long list."""
    _a_long_list(conn, settings, tenant)
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (_, page):
        page.get_by_label("URL", exact=True).fill(HOOK + "?signed")
        page.get_by_label("Sign notifications (Standard Webhooks)").check()
        page.get_by_role("button", name="Add request").click()
        expect(page.get_by_label("Secret", exact=True)).to_be_in_viewport()
        added = next(r for r in service.list_requests(conn, tenant.extension, service.parse_list_query({})).items
                     if r.url.endswith("?signed"))
        page.goto(api.url + request_url(number, added.type, added.id))
        page.get_by_role("button", name="Rotate secret").click()
        expect(page.get_by_label("Secret", exact=True)).to_be_in_viewport()


def test_a_request_disabled_by_410_says_it_is_still_off_after_an_edit_that_did_not_enable_it(
    chromium: Browser, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
) -> None:
    made = service.add_request(conn, settings, tenant.extension, {"type": 0, "url": HOOK}).request
    conn.execute("UPDATE event_requests SET enabled = false, disabled_reason = 'gone' WHERE id = %s", (made.id,))
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (_, page):
        expect(page.locator(f"#request-{made.id}")).to_contain_text("answered 410 Gone")
        page.get_by_role("link", name=f"Edit request {made.id}").click()
        expect(page.get_by_text("The endpoint answered 410 Gone")).to_be_visible()
        page.get_by_label("URL", exact=True).fill(HOOK + "/v2")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("status")).to_contain_text("It is still disabled: select Enable to resume delivery.")
        page.get_by_role("button", name=f"Enable request {made.id}").click()
        expect(page.get_by_role("status")).to_contain_text(f"Dial-In request {made.id} enabled.")
        expect(page.locator(f"#request-{made.id}")).not_to_contain_text("410 Gone")


def test_turning_signing_on_twice_points_to_rotate_when_the_secret_went_to_the_other_save(
    chromium: Browser, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
) -> None:
    """A second click on Save, or the same edit in another tab: the first save made the secret and showed it on a
    page this one replaced; the second finds the request signing and must not pass for an ordinary save."""
    made = service.add_request(conn, settings, tenant.extension, {"type": 0, "url": HOOK}).request
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (context, page):
        other = context.new_page()
        for each in (page, other):
            each.goto(api.url + request_url(number, made.type, made.id))
            each.get_by_label("Sign notifications (Standard Webhooks)").check()
        other.get_by_role("button", name="Save changes").click()
        expect(other.get_by_label("Secret", exact=True)).to_be_visible()
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("status")).to_contain_text("Rotate secret")
