"""SSRF through the API: with private URLs not allowed, every internal target is refused with pce_url_invalid."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant


@pytest.fixture(scope="module")
def guarded_api(make_settings: Callable[..., Settings]) -> Iterator[ApiServer]:
    with ApiServer(make_settings(allow_private_urls=False)) as server:
        yield server


@pytest.fixture
def http(guarded_api: ApiServer, tenant: Tenant) -> Iterator[httpx.Client]:
    with guarded_api.client(guarded_api.token(tenant.client.client_id, tenant.client.client_secret)) as client:
        yield client


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://127.8.9.10:8080/", "http://10.0.0.1/", "http://10.255.255.254/x",
    "http://172.16.0.1/", "http://172.31.255.1/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/", "http://[fc00::1]/", "http://[fd12:3456::1]/", "http://localhost:8080/hook",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
])
def test_internal_targets_are_refused(http: httpx.Client, tenant: Tenant, conn: psycopg.Connection[Any],
                                      url: str) -> None:
    path = f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents"
    added = http.post(path, json={"type": 0, "url": url})
    assert added.status_code == 400 and added.json()["error"]["code"] == "pce_url_invalid", added.text
    row = conn.execute("SELECT count(*) FROM event_requests WHERE extension_id = %s",
                       (tenant.extension.id,)).fetchone()
    assert row == (0,)


def test_edit_to_an_internal_target_is_refused(http: httpx.Client, tenant: Tenant,
                                               conn: psycopg.Connection[Any]) -> None:
    path = f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents"
    conn.execute("INSERT INTO event_requests (extension_id, id, type, method, url) VALUES (%s, 'abc', 0, 'GET',"
                 " 'https://example.com/')", (tenant.extension.id,))
    edited = http.put(f"{path}/0/abc", json={"url": "http://10.1.2.3/"})
    assert (edited.status_code, edited.json()["error"]["code"]) == (400, "pce_url_invalid")
    assert http.get(f"{path}/0/abc").json()["url"] == "https://example.com/"
