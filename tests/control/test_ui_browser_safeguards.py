"""The web UI in a real headless Chromium against the real API server and PostgreSQL: what keeps a person's slips
from costing them a request, a change or a look at what happened."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, expect

from control import service
from control.ui.render import request_url
from schemas.settings import Settings
from tests.control.browser import launched_chromium
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.test_ui_browser import HOOK, signed_in_page

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

