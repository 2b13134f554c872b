"""Fixtures of the control-plane tests: a connection to the session database and fresh tenants."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from schemas.settings import Settings
from tests.control.tenants import Tenant, make_tenant


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def tenant(conn: psycopg.Connection[Any]) -> Tenant:
    return make_tenant(conn)


@pytest.fixture
def empty_database(base_settings: Settings) -> Iterator[str]:
    """A database of its own, without any migration, dropped afterwards."""
    name = f"callapi_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base_settings.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield psycopg.conninfo.make_conninfo(base_settings.database_url, dbname=name)
    with psycopg.connect(base_settings.database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
