"""A new signing secret the web UI never got to show does not outlive its flash in PostgreSQL, over real HTTP
against the real PostgreSQL: the relay's periodic sweep deletes it once expired, and signing out deletes it at
once, without waiting for a later secret to be stored or shown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from control import relay
from control.ui import session
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.ui import Browser

URL = "http://127.0.0.1:9/hook"


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:
        yield server


def unshown_secret(browser: Browser, tenant: Tenant) -> str:
    """Adds a signing request through the UI and leaves its page unopened: the reference of the secret it made."""
    made = browser.post(f"/ui/extensions/{quote(tenant.extension.number, safe='*')}/requests", data={
        "csrf": browser.csrf(), "type": "0", "method": "GET", "status": "1", "url": URL, "signing": "on"})
    assert made.status_code == 303, made.text
    flash = session.decode_flash(browser.cookies[session.FLASH_COOKIE], browser.cookies[session.SESSION_COOKIE])
    assert flash is not None and flash.secret_ref
    return flash.secret_ref


def kept(conn: psycopg.Connection[Any], ref: str) -> bool:
    return conn.execute("SELECT count(*) FROM ui_flash_secrets WHERE ref = %s", (ref,)).fetchone() == (1,)


async def test_the_relays_sweep_deletes_an_expired_never_shown_secret(
        database_url: str, conn: psycopg.Connection[Any], tenant: Tenant, browser: Browser) -> None:
    expired, live = unshown_secret(browser, tenant), unshown_secret(browser, tenant)
    conn.execute("UPDATE ui_flash_secrets SET expires_at = now() - interval '1 second' WHERE ref = %s", (expired,))
    assert kept(conn, expired) and kept(conn, live)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as swept:
        await relay.sweep(swept)
    assert not kept(conn, expired)
    assert kept(conn, live)  # still within its flash's lifetime: the next page shows it


def test_signing_out_deletes_a_secret_not_shown_yet(conn: psycopg.Connection[Any], tenant: Tenant,
                                                    browser: Browser) -> None:
    ref = unshown_secret(browser, tenant)
    assert kept(conn, ref)
    out = browser.post("/ui/signout", data={"csrf": browser.csrf()})
    assert (out.status_code, out.headers["location"]) == (303, "/ui/")
    assert not kept(conn, ref)
    assert session.FLASH_COOKIE not in browser.cookies
