"""Add with an Idempotency-Key over real HTTP against the real PostgreSQL: a retried Add is not added twice, the
same key for another Add is refused, and two Adds racing with one key make one request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant

URL = "https://93.184.215.14/hook"


@pytest.fixture(scope="module")
def api(make_settings: Callable[..., Settings]) -> Iterator[ApiServer]:
    with ApiServer(make_settings()) as server:
        yield server


def _path(tenant: Tenant) -> str:
    return f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents"


def _stored(conn: psycopg.Connection[Any], tenant: Tenant) -> int:
    row = conn.execute("SELECT count(*) FROM event_requests WHERE extension_id = %s", (tenant.extension.id,)).fetchone()
    return int(row[0]) if row else 0


def test_a_retried_add_answers_with_the_first_request_and_its_secret(http: httpx.Client, tenant: Tenant,
                                                                     conn: psycopg.Connection[Any]) -> None:
    body = {"type": 0, "url": URL, "signing": True, "note": "crm"}
    first = http.post(_path(tenant), json=body, headers={"Idempotency-Key": "add-1"})
    again = http.post(_path(tenant), json={**body, "type": "0"}, headers={"Idempotency-Key": "add-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["secret"] == first.json()["secret"]
    assert _stored(conn, tenant) == 1
    other = http.post(_path(tenant), json=body, headers={"Idempotency-Key": "add-2"})  # a new key: a new request
    unkeyed = http.post(_path(tenant), json=body)
    assert len({first.json()["id"], other.json()["id"], unkeyed.json()["id"]}) == 3
    assert _stored(conn, tenant) == 3


def test_a_key_used_for_another_add_or_malformed_is_refused(http: httpx.Client, tenant: Tenant,
                                                          conn: psycopg.Connection[Any]) -> None:
    assert http.post(_path(tenant), json={"type": 0, "url": URL}, headers={"Idempotency-Key": "k"}).status_code == 201
    reused = http.post(_path(tenant), json={"type": 1, "url": URL}, headers={"Idempotency-Key": "k"})
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")
    for bad in (b"x" * 256, "café".encode()):
        refused = http.post(_path(tenant), json={"type": 0, "url": URL}, headers={"Idempotency-Key": bad})
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "idempotency_key_invalid")
    assert _stored(conn, tenant) == 1


def test_a_retry_after_the_request_was_removed_is_not_found(http: httpx.Client, tenant: Tenant) -> None:
    added = http.post(_path(tenant), json={"type": 2, "url": URL}, headers={"Idempotency-Key": "gone"}).json()
    assert http.delete(f"{_path(tenant)}/2/{added['id']}").status_code == 200
    again = http.post(_path(tenant), json={"type": 2, "url": URL}, headers={"Idempotency-Key": "gone"})
    assert again.status_code == 404 and "was removed since" in again.json()["error"]["message"]


def test_adds_racing_with_one_key_make_one_request(api: ApiServer, tenant: Tenant,
                                                   conn: psycopg.Connection[Any]) -> None:
    token = api.token(tenant.client.client_id, tenant.client.client_secret)

    def add(_: int) -> str:
        with api.client(token) as client:
            answer = client.post(_path(tenant), json={"type": 3, "url": URL}, headers={"Idempotency-Key": "race"})
            assert answer.status_code == 201, answer.text
            return str(answer.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(add, range(8)))
    assert len(ids) == 1 and _stored(conn, tenant) == 1
