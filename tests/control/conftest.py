"""Fixtures of the control-plane tests: a connection to the session database, fresh tenants, and, for a module
that serves the API as its `api` fixture, a tenant's signed-in API client (`http`) and UI session (`browser`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.control.server import ApiServer
from tests.control.tenants import Tenant, make_tenant
from tests.control.ui import Browser


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def tenant(conn: psycopg.Connection[Any]) -> Tenant:
    return make_tenant(conn)



@pytest.fixture
def http(api: ApiServer, tenant: Tenant) -> Iterator[httpx.Client]:
    with api.client(api.token(tenant.client.client_id, tenant.client.client_secret)) as client:
        yield client


@pytest.fixture
def browser(api: ApiServer, tenant: Tenant) -> Iterator[Browser]:
    with Browser(api.url) as signed_in:
        assert signed_in.sign_in(tenant.client.client_id, tenant.client.client_secret).status_code == 303
        yield signed_in
