"""The throttled web UI sign-in in a real headless Chromium: what a person sees after too many wrong secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from schemas.settings import Settings
from tests.control.browser import ARTIFACTS, TIMEOUT_MS, launched_chromium
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.test_sign_in_throttle import new_address

pytestmark = pytest.mark.browser
PER_CLIENT = 2


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    limits = {"sign_in_max_failures_per_client": PER_CLIENT, "trusted_proxies": "127.0.0.1"}
    with ApiServer(settings.model_copy(update=limits)) as server:
        yield server


@pytest.fixture(scope="module")
def chromium(api: ApiServer) -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


def submit(page: Page, client_id: str, secret: str) -> None:
    page.get_by_label("Client ID", exact=True).fill(client_id)
    page.get_by_label("Client secret", exact=True).fill(secret)
    page.get_by_role("button", name="Sign in").click()


def test_throttled_sign_in_explains_what_to_do(chromium: Browser, api: ApiServer, tenant: Tenant) -> None:
    context = chromium.new_context(extra_http_headers={"X-Forwarded-For": new_address()})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(f"{api.url}/ui/")
        for _ in range(PER_CLIENT):
            submit(page, tenant.client.client_id, "not-the-secret")
            expect(page.get_by_role("alert")).to_have_text("Unknown client ID or wrong client secret.")
        submit(page, tenant.client.client_id, tenant.client.client_secret)  # right, but too late
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Too many failed sign-in attempts for this client ID or from your network.")
        expect(alert).to_contain_text(re.compile(r"Sign-in is paused for about 1[0-5] minutes; check your client ID"))
        expect(page.get_by_label("Client ID", exact=True)).to_have_value(tenant.client.client_id)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui-signin-throttled.png"))
        page.goto(f"{api.url}/ui/extensions")  # no session was created
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    finally:
        context.close()
