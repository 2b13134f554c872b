"""The web UI's "Send test" in a real headless Chromium, from a request's row and from its edit page: the click queues a
test notification in PostgreSQL (even for a disabled request) and says so, and that a server started without its
relay sends nothing until `callapi-events relay` runs; the real relay, worker and sink take it to a real receiver and
back into the request's delivery log. Its form, like every other, is refused without the session's CSRF token; past
the per-request limit the page says so with 429 and Retry-After."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

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

JOB_ID = re.compile(r"Test notification (msg_[0-9a-f]{32}) queued for ")
NO_RELAY = "This server runs without its relay: it is sent only while a relay runs (callapi-events relay)."


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:  # no relay inside: the test starts the real one when it wants it
        yield server


@pytest.fixture(scope="module")
def chromium(api: ApiServer) -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@contextmanager
def signed_in_page(chromium: Browser, api: ApiServer, tenant: Tenant) -> Iterator[Page]:
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


@pytest.fixture
def page(chromium: Browser, api: ApiServer, tenant: Tenant) -> Iterator[Page]:
    with signed_in_page(chromium, api, tenant) as signed_in:
        yield signed_in


def page_of(api: ApiServer, tenant: Tenant) -> str:
    return f"{api.url}/ui/extensions/{quote(tenant.extension.number, safe='*')}"


def queued_tests(database_url: str, number: str) -> list[tuple[str, str]]:
    """(request id, webhook-id) of every test notification queued for the extension."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT request_id, job FROM test_notifications WHERE extension = %s ORDER BY id",
                            (number,)).fetchall()
    return [(request_id, json.loads(job)["job_id"]) for request_id, job in rows]


def queued_without_relay(page: Page, url: str) -> str:
    """The flash after Send test on a server without its relay; returns the queued job's webhook-id."""
    flash = page.get_by_role("status")
    expect(flash).to_contain_text(re.compile(rf"Test notification msg_[0-9a-f]{{32}} queued for {re.escape(url)}\."))
    expect(flash).to_contain_text(NO_RELAY)  # nothing is sent yet: a warning, not a success
    expect(flash).to_have_class(re.compile(r"\bwarning\b"))
    expect(flash).to_contain_text("Its outcome then appears in the request's delivery log.")
    found = JOB_ID.search(flash.inner_text())
    assert found is not None, flash.inner_text()
    return found.group(1)


def sent_and_logged(settings: Settings, receiver: Receiver, path: str, webhook_id: str, page: Page,
                    log: Locator) -> None:
    """With a relay, a worker and the sink running, the test reaches `path`, signed, and `log` shows it delivered."""
    with Service(settings, "relay"), Service(settings, "deliver"), Service(settings, "sink"):
        assert eventually(lambda: receiver.received(path), timeout_s=60), "the test notification never came"

        def logged() -> bool:
            page.reload()
            return "delivered" in log.inner_text()

        assert eventually(logged, timeout_s=60, every_s=0.5), "the attempt never appeared in the delivery log"
    (sent,) = receiver.received(path)
    assert sent.headers["webhook-id"] == webhook_id and "webhook-signature" in sent.headers
    assert sent.params["CallerIDName"] == caller_name("test") and sent.params["CallID"].startswith("test.")
    expect(log).to_contain_text("204")


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
    webhook_id = queued_without_relay(page, url)
    assert queued_tests(database_url, tenant.extension.number) == [(request.id, webhook_id)]
    expect(row).to_contain_text("Disabled")  # a test does not enable the request
    expect(row).to_contain_text("No attempts yet")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-send-test.png"), full_page=True)

    sent_and_logged(settings, receiver, "/hook", webhook_id, page, row)
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
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 0, held.text
        assert "Too many requests" in held.text and "the most allowed: try again in" in held.text
        assert len(queued_tests(database_url, tenant.extension.number)) == TESTS_PER_MINUTE

        edit_page = browser.get(f"{base}/requests/dial-in/{request.id}").text
        assert f'action="{action}"' in edit_page and 'name="back" value="request"' in edit_page


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
    assert f"queued for {url[:SHOWN_URL_CHARS - 1]}…. {NO_RELAY}" in html.unescape(shown)


def test_send_test_on_the_edit_page_goes_the_same_way_and_its_outcome_shows_in_the_delivery_log_there(
    page: Page, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
    database_url: str, receiver: Receiver,
) -> None:
    url = f"{receiver.url}/from-edit-page"
    request = service.add_request(conn, settings, tenant.extension, {
        "type": 2, "method": "POST", "url": url, "status": 0, "signing": True}).request
    page.goto(page_of(api, tenant))
    page.get_by_role("link", name=f"Edit request {request.id}").click()
    expect(page.get_by_role("heading", name=f"Edit request {request.id}")).to_be_visible()
    log = page.locator("section", has=page.get_by_role("heading", name="Delivery attempts"))
    expect(log).to_contain_text("No delivery attempts yet.")

    page.get_by_role("button", name=f"Send test notification to request {request.id}").click()
    expect(page).to_have_url(re.compile(rf"/requests/hangup/{request.id}#deliveries$"))  # back on the edit page
    webhook_id = queued_without_relay(page, url)
    assert queued_tests(database_url, tenant.extension.number) == [(request.id, webhook_id)]
    expect(log).to_contain_text("No delivery attempts yet.")  # queued only: nothing publishes it yet
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-send-test-edit-page.png"), full_page=True)

    sent_and_logged(settings, receiver, "/from-edit-page", webhook_id, page, log)
    expect(page.get_by_role("status")).to_have_count(0)  # the flash was shown once
    expect(page.get_by_role("heading", name=f"Edit request {request.id}")).to_be_visible()


def test_a_server_that_runs_its_relay_does_not_ask_for_one(
    chromium: Browser, make_settings: Callable[..., Settings], conn: psycopg.Connection[Any], tenant: Tenant,
    database_url: str,
) -> None:
    with ThreadPoolExecutor(1) as pool:  # it creates topics with asyncio.run; Playwright's loop runs in this thread
        own = pool.submit(make_settings).result(timeout=60)  # topics of its own: no other test's worker sees them
    request = service.add_request(conn, own, tenant.extension, {"type": 0, "url": "https://93.184.215.14/hook"}).request
    with ApiServer(own, relay=True) as api, signed_in_page(chromium, api, tenant) as page:
        page.goto(page_of(api, tenant))
        page.get_by_role("button", name=f"Send test notification to request {request.id}").click()
        flash = page.get_by_role("status")
        expect(flash).to_contain_text(re.compile(r"Test notification msg_[0-9a-f]{32} queued for https://93\.184"))
        expect(flash).to_contain_text("Its outcome appears in the request's delivery log once a worker has sent it.")
        expect(flash).not_to_contain_text("without its relay")
        expect(flash).to_have_class(re.compile(r"\bsuccess\b"))
        assert [request_id for request_id, _ in queued_tests(database_url, tenant.extension.number)] == [request.id]
        assert eventually(lambda: published_tests(database_url, tenant.extension.number) == 1), "never published"


def published_tests(database_url: str, number: str) -> int:
    """How many of the extension's test notifications a relay has published to `deliveries`."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM test_notifications WHERE extension = %s AND sent_at IS NOT NULL",
                           (number,)).fetchone()
    return int(row[0]) if row else 0


def test_past_the_limit_send_test_on_the_edit_page_answers_429_with_a_page_that_says_when_to_retry(
    page: Page, api: ApiServer, settings: Settings, conn: psycopg.Connection[Any], tenant: Tenant,
    database_url: str,
) -> None:
    request = service.add_request(conn, settings, tenant.extension, {"type": 0, "url": "https://93.184.215.14/hook"}
                                  ).request
    edit_page = f"{page_of(api, tenant)}/requests/dial-in/{request.id}"
    page.goto(edit_page)
    send = page.get_by_role("button", name=f"Send test notification to request {request.id}")
    for _ in range(TESTS_PER_MINUTE):
        with page.expect_navigation():  # each one back on the edit page before the next click
            send.click()
        expect(page.get_by_role("status")).to_contain_text("queued for https://93.184.215.14/hook.")
    assert len(queued_tests(database_url, tenant.extension.number)) == TESTS_PER_MINUTE

    with page.expect_response(lambda answer: answer.request.method == "POST") as answered:
        send.click()
    assert answered.value.status == 429, answered.value.status
    assert int(answered.value.headers["retry-after"]) > 0
    expect(page.get_by_role("heading", name="Too many requests")).to_be_visible()
    expect(page.get_by_text(f"Request {request.id} was sent {TESTS_PER_MINUTE} test notifications in the last "
                            "minute, the most allowed: try again in")).to_be_visible()
    assert len(queued_tests(database_url, tenant.extension.number)) == TESTS_PER_MINUTE
    page.get_by_role("link", name=f"Back to request {request.id}").click()
    expect(page.get_by_role("heading", name=f"Edit request {request.id}")).to_be_visible()
    assert page.url == edit_page
