"""Fixtures of the control-plane tests: a connection to the session database and fresh tenants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.control.tenants import Tenant, make_tenant


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def tenant(conn: psycopg.Connection[Any]) -> Tenant:
    return make_tenant(conn)

