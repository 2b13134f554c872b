"""The web UI in a real headless Chromium against the real API server and PostgreSQL: sign in, pick the
extension, add, edit, disable and remove a request, see validation messages; screenshots for review."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from control import service
from control.service import ExtensionRef
from schemas.attempts import Outcome
from schemas.events import EventType
from schemas.settings import Settings
from tests.control.browser import ARTIFACTS, TIMEOUT_MS, launched_chromium
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.ui import attempt, readable_in_cookies, write_attempts

pytestmark = pytest.mark.browser

HOOK = "https://93.184.215.14/callapi/dial-in"  # public address literal: passes the URL guard without DNS


@pytest.fixture(scope="module")
def chromium(api: ApiServer, settings: Settings) -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def api(make_settings: Callable[..., Settings]) -> Iterator[ApiServer]:
    with ApiServer(make_settings(allow_private_urls=False)) as server:
        yield server


def seed(conn: psycopg.Connection[Any], settings: Settings, extension: ExtensionRef, database_url: str) -> None:
    """Requests made earlier (through the service, private URLs allowed) with some delivery history."""
    made = [service.add_request(conn, settings, extension, data).request for data in (
        {"type": 0, "method": 1, "url": "https://crm.example.com/hooks/incoming-call", "note": "CRM screen pop",
         "signing": True},
        {"type": 2, "url": "https://billing.example.net/cdr?source=pbx", "note": "Call records for billing"},
        {"type": 3, "method": "POST", "url": "https://wallboard.example.org/answered", "status": 0,
         "note": "Wallboard (paused)"},
    )]
    history = [(made[0], EventType.DIAL_IN, [(1, Outcome.DELIVERED, 200), (1, Outcome.DELIVERED, 204)]),
               (made[1], EventType.HANGUP, [(1, Outcome.RETRY, 503), (2, Outcome.RETRY, 502),
                                            (3, Outcome.DELIVERED, 200)])]
    write_attempts(database_url, [
        attempt(extension, request.id, event_type, number=number, outcome=outcome, status_code=code,
                ago_s=900 - 60 * index)
        for request, event_type, attempts in history for index, (number, outcome, code) in enumerate(attempts)
    ])


def row(page: Page, request_id: str) -> Any:
    return page.locator(f"#request-{request_id}")


@contextmanager
def signed_in_page(chromium: Browser, api: ApiServer, tenant: Tenant,
                   number: str) -> Iterator[tuple[BrowserContext, Page]]:
    """A desktop browser, signed in as `tenant` and on extension `number`'s page; closed afterwards."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in_and_pick(page, api.url, tenant, number)
        yield context, page
    finally:
        context.close()


def test_manage_requests_in_the_browser(
    chromium: Browser, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
    database_url: str,
) -> None:
    seed(conn, settings, tenant.extension, database_url)
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (context, page):
        request_id = add_request(page)
        see_validation_errors(page)
        edit_request(page, request_id)
        disable_request(page, request_id)
        page.screenshot(path=str(ARTIFACTS / "ui-extension.png"), full_page=True)
        remove_request(page, request_id)
        assert [r.id for r in service.list_requests(conn, tenant.extension, service.parse_list_query({})).items
                if r.id == request_id] == []
        phone_layout(chromium, context, api.url, number)


def sign_in_and_pick(page: Page, base_url: str, tenant: Tenant, number: str) -> None:
    page.goto(f"{base_url}/ui/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-signin.png"))
    page.get_by_label("Client ID", exact=True).fill(tenant.client.client_id)
    page.get_by_label("Client secret", exact=True).fill(tenant.client.client_secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your extensions")).to_be_visible()
    page.get_by_role("link", name=re.compile(re.escape(number))).click()
    expect(page).to_have_title(f"CallAPI Published Events for Extension {number}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"CallAPI Published Events for Extension {number}")


def add_request(page: Page) -> str:
    page.get_by_label("Event", exact=True).select_option(label="Dial-In")
    page.get_by_label("Request method", exact=True).select_option("GET")
    page.get_by_label("URL", exact=True).fill(HOOK)
    page.get_by_label("Notes", exact=True).fill("Helpdesk ticket on missed calls")
    page.get_by_role("button", name="Add request").click()
    flash = page.get_by_role("status")
    expect(flash).to_contain_text("Dial-In request")
    found = re.search(r"Dial-In request (\w+) added", flash.inner_text())
    assert found is not None
    request_id = found.group(1)
    expect(row(page, request_id)).to_contain_text(HOOK)
    expect(row(page, request_id)).to_contain_text("Enabled")
    expect(row(page, request_id)).to_contain_text("No attempts yet")
    return request_id


def see_validation_errors(page: Page) -> None:
    page.get_by_label("URL", exact=True).fill("ftp://x")
    page.get_by_role("button", name="Add request").click()
    expect(page.locator("#url-error")).to_contain_text("must start with http:// or https://")
    expect(page.get_by_label("URL", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("URL", exact=True)).to_have_value("ftp://x")
    page.get_by_label("URL", exact=True).fill("http://192.168.1.20/hook")
    page.get_by_role("button", name="Add request").click()
    expect(page.locator("#url-error")).to_contain_text("a private address")


def edit_request(page: Page, request_id: str) -> None:
    page.get_by_role("link", name=f"Edit request {request_id}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(request_id)
    page.get_by_label("URL", exact=True).fill("not a url")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#url-error")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "ui-request-edit.png"), full_page=True)
    page.get_by_label("URL", exact=True).fill(HOOK + "?queue=support")
    page.get_by_label("Request method", exact=True).select_option("POST")
    page.get_by_label("Notes", exact=True).fill("Helpdesk ticket on every incoming call")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text(f"Dial-In request {request_id} saved.")
    expect(row(page, request_id)).to_contain_text(HOOK + "?queue=support")
    expect(row(page, request_id)).to_contain_text("POST")
    expect(row(page, request_id)).to_contain_text("every incoming call")


def disable_request(page: Page, request_id: str) -> None:
    page.get_by_role("button", name=f"Disable request {request_id}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Dial-In request {request_id} disabled.")
    expect(row(page, request_id)).to_contain_text("Disabled")
    expect(page.get_by_role("button", name=f"Enable request {request_id}")).to_be_visible()


def remove_request(page: Page, request_id: str) -> None:
    row(page, request_id).locator("summary").click()
    page.get_by_role("button", name=f"Remove {request_id} for good").click()
    expect(page.get_by_role("status")).to_contain_text(f"Dial-In request {request_id} removed.")
    expect(row(page, request_id)).to_have_count(0)


def phone_layout(chromium: Browser, desktop: Any, base_url: str, number: str) -> None:
    """The same page on a phone: no sideways scrolling, cards instead of a table."""
    phone = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                 storage_state=desktop.storage_state())
    try:
        page = phone.new_page()
        page.goto(f"{base_url}/ui/extensions/{number}")
        expect(page.get_by_role("heading", level=1)).to_contain_text(number)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(ARTIFACTS / "ui-extension-phone.png"), full_page=True)
    finally:
        phone.close()


def test_a_new_signing_secret_is_shown_once_and_never_kept_in_a_cookie(
    chromium: Browser, api: ApiServer, tenant: Tenant
) -> None:
    """The browser shows the secret after Add, but no cookie it received or keeps holds it, in any encoding."""
    number = tenant.extension.number
    with signed_in_page(chromium, api, tenant, number) as (context, page):
        page.get_by_label("URL", exact=True).fill(HOOK)
        page.get_by_label("Sign notifications (Standard Webhooks)").check()
        with page.expect_response(lambda answer: answer.request.method == "POST") as added:
            page.get_by_role("button", name="Add request").click()
        expect(page.get_by_role("status")).to_contain_text("It will not be shown again.")
        secret = page.get_by_label("Secret", exact=True).input_value()
        assert secret.startswith("whsec_")
        set_cookies = [header["value"] for header in added.value.headers_array()
                       if header["name"].lower() == "set-cookie"]
        assert any(header.startswith("__Host-callapi-flash=") for header in set_cookies)
        assert readable_in_cookies(set_cookies, secret) == []
        kept = [f"{cookie['name']}={cookie['value']}" for cookie in context.cookies()]
        assert readable_in_cookies(kept, secret) == []
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_contain_text(number)
        assert "whsec_" not in page.content()
