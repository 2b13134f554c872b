"""The web UI's "Send test" in a real headless Chromium: the click queues a test notification in PostgreSQL (even
for a disabled request) and says so; the real relay, worker and sink take it to a real receiver and back into the
row's last deliveries. Its form, like every other, is refused without the session's CSRF token."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from control import service
from control.service.test_notifications import TESTS_PER_MINUTE
from control.ui.routes_requests import SHOWN_URL_CHARS
from schemas.settings import Settings
from schemas.synthetic import caller_name
from tests.control.browser import ARTIFACTS, TIMEOUT_MS, launched_chromium
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.ui import Browser as HttpBrowser
from tests.polling import eventually
from tests.receiver import Receiver
from tests.services import Service

pytestmark = pytest.mark.browser

WEBHOOK_ID = re.compile(r"\(webhook-id (msg_[0-9a-f]{32})\)")


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:  # no relay inside: the test starts the real one when it wants it
        yield server


@pytest.fixture(scope="module")
def chromium(api: ApiServer) -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium: Browser, api: ApiServer, tenant: Tenant) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    signed_in = context.new_page()
    signed_in.goto(f"{api.url}/ui/")
    signed_in.get_by_label("Client ID", exact=True).fill(tenant.client.client_id)
    signed_in.get_by_label("Client secret", exact=True).fill(tenant.client.client_secret)
    signed_in.get_by_role("button", name="Sign in").click()
    expect(signed_in.get_by_role("heading", name="Your extensions")).to_be_visible()
    try:
        yield signed_in
    finally:
        context.close()


def page_of(api: ApiServer, tenant: Tenant) -> str:
    return f"{api.url}/ui/extensions/{quote(tenant.extension.number, safe='*')}"


def queued_tests(database_url: str, number: str) -> list[tuple[str, str]]:
    """(request id, webhook-id) of every test notification queued for the extension."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT request_id, job FROM test_notifications WHERE extension = %s ORDER BY id",
                            (number,)).fetchall()
    return [(request_id, json.loads(job)["job_id"]) for request_id, job in rows]


def test_send_test_queues_a_test_notification_that_reaches_the_url_and_its_last_deliveries(
    page: Page, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
    database_url: str, receiver: Receiver,
) -> None:
    url = f"{receiver.url}/hook"
    request = service.add_request(conn, settings, tenant.extension, {
        "type": 1, "method": "POST", "url": url, "status": 0, "signing": True, "note": "not enabled yet"}).request
    page.goto(page_of(api, tenant))
    row = page.locator(f"#request-{request.id}")
    expect(row).to_contain_text("Disabled")

    page.get_by_role("button", name=f"Send test notification to request {request.id}").click()
    flash = page.get_by_role("status")
    expect(flash).to_contain_text(f"Test notification sent to {url} (webhook-id msg_")
    expect(flash).to_contain_text("its attempt appears under Last deliveries in a few seconds.")
    found = WEBHOOK_ID.search(flash.inner_text())
    assert found is not None, flash.inner_text()
    webhook_id = found.group(1)
    assert queued_tests(database_url, tenant.extension.number) == [(request.id, webhook_id)]
    expect(row).to_contain_text("Disabled")  # a test does not enable the request
    expect(row).to_contain_text("No attempts yet")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-send-test.png"), full_page=True)

    with Service(settings, "relay"), Service(settings, "deliver"), Service(settings, "sink"):
        assert eventually(lambda: receiver.received("/hook"), timeout_s=60), "the test notification never came"

        def logged() -> bool:
            page.reload()
            return "delivered" in row.inner_text()

        assert eventually(logged, timeout_s=60, every_s=0.5), "the attempt never appeared under Last deliveries"
    (sent,) = receiver.received("/hook")
    assert sent.headers["webhook-id"] == webhook_id and "webhook-signature" in sent.headers
    assert sent.params["CallerIDName"] == caller_name("test") and sent.params["CallID"].startswith("test.")
    expect(row).to_contain_text("204")
    expect(page.get_by_role("status")).to_have_count(0)  # the flash was shown once


def test_send_test_needs_the_forms_csrf_token_and_a_request_that_exists(
    api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant, database_url: str,
) -> None:
    request = service.add_request(conn, settings, tenant.extension,
                                  {"type": 0, "url": "https://93.184.215.14/hook"}).request
    base = f"/ui/extensions/{quote(tenant.extension.number, safe='*')}"
    action = f"{base}/requests/dial-in/{request.id}/test"
    with HttpBrowser(api.url) as browser:
        assert browser.sign_in(tenant.client.client_id, tenant.client.client_secret).status_code == 303
        page = browser.get(base).text
        assert f'action="{action}"' in page  # the row's form, which carries the token
        for forged in ({}, {"csrf": ""}, {"csrf": "f" * 64}):
            refused = browser.post(action, data=forged)
            assert (refused.status_code, "Form expired" in refused.text) == (403, True), forged
        assert queued_tests(database_url, tenant.extension.number) == []

        token = browser.csrf(base)
        missing = browser.post(f"{base}/requests/dial-in/nosuchrequest/test", data={"csrf": token})
        other_type = browser.post(f"{base}/requests/hangup/{request.id}/test", data={"csrf": token})
        assert missing.status_code == other_type.status_code == 404 and "Not found" in missing.text
        assert queued_tests(database_url, tenant.extension.number) == []

        for _ in range(TESTS_PER_MINUTE):
            sent = browser.post(action, data={"csrf": token})
            assert sent.status_code == 303 and sent.headers["location"] == f"{base}#request-{request.id}"
        assert len(queued_tests(database_url, tenant.extension.number)) == TESTS_PER_MINUTE
        held = browser.post(action, data={"csrf": token})
        assert held.status_code == 303
        shown = browser.get(held.headers["location"]).text
        assert 'role="alert"' in shown and "No test sent: request" in shown and "try again in" in shown
        assert len(queued_tests(database_url, tenant.extension.number)) == TESTS_PER_MINUTE


def test_a_long_url_is_shortened_in_the_message_so_its_cookie_stays_within_what_browsers_keep(
    api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
) -> None:
    url = "https://93.184.215.14/" + "é" * 2000  # the longest URL the service takes, each character escaped
    request = service.add_request(conn, settings, tenant.extension, {"type": 0, "url": url}).request
    base = f"/ui/extensions/{quote(tenant.extension.number, safe='*')}"
    with HttpBrowser(api.url) as browser:
        browser.sign_in(tenant.client.client_id, tenant.client.client_secret)
        sent = browser.post(f"{base}/requests/dial-in/{request.id}/test", data={"csrf": browser.csrf(base)})
        (cookie,) = [header for header in sent.headers.get_list("set-cookie") if "flash" in header]
        assert len(cookie.encode()) <= 4096, len(cookie.encode())
        shown = browser.get(sent.headers["location"]).text
    assert f"Test notification sent to {url[:SHOWN_URL_CHARS - 1]}… (webhook-id msg_" in shown
