"""Session fixtures: the real local stack, a fresh database and fresh topics, real HTTP receivers.

Each test session gets its own database (migrated) and each test module its own topic prefix, so test
runs never see each other's records, even on one shared broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from control.migrate import migrate
from deploy.local.probe import kafka_metadata_ok
from deploy.topics import create_topics, delete_topics
from schemas.settings import Settings
from tests.receiver import Receiver


def _postgres_ok(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """Settings of the running stack; starts the local stack when nothing answers."""
    settings = Settings()
    if not (kafka_metadata_ok(settings.kafka_bootstrap) and _postgres_ok(settings.database_url)):
        from deploy.local.stack import Stack

        Stack.at(settings.stack_dir, settings.cache_dir / "maven", settings.kafka_bootstrap).up()
        settings = Settings()
    return settings


@pytest.fixture(scope="session")
def database_url(base_settings: Settings) -> Iterator[str]:
    """A fresh, migrated database for this test session, dropped at the end."""
    name = f"callapi_test_{uuid.uuid4().hex[:10]}"
    admin_dsn = base_settings.database_url
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(admin_dsn, dbname=name)
    migrate(url)
    yield url
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def unmigrated_database_url(base_settings: Settings) -> Iterator[str]:
    """A database of its own that `db migrate` never ran on, dropped after the test."""
    name = f"callapi_empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base_settings.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield psycopg.conninfo.make_conninfo(base_settings.database_url, dbname=name)
    with psycopg.connect(base_settings.database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_settings(base: Settings, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap": base.kafka_bootstrap,
        "database_url": database_url,
        "topic_prefix": f"test.{uuid.uuid4().hex[:10]}.",
        "partitions": 4,
        "allow_private_urls": True,
        "retry_schedule": (1.0, 2.0),
        **overrides,
    }
    settings = Settings(**values)
    asyncio.run(create_topics(settings.kafka_bootstrap, settings.topic_specs()))
    return settings


@pytest.fixture(scope="module")
def make_settings(base_settings: Settings, database_url: str) -> Iterator[Callable[..., Settings]]:
    """Factory of Settings with their own fresh topics (deleted after the module)."""
    made: list[Settings] = []

    def factory(**overrides: Any) -> Settings:
        settings = new_settings(base_settings, overrides.pop("database_url", database_url), **overrides)
        made.append(settings)
        return settings

    yield factory
    for settings in made:
        asyncio.run(delete_topics(settings.kafka_bootstrap, [s.name for s in settings.topic_specs()]))


@pytest.fixture(scope="module")
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Settings for this test module: the session database, topics of its own, private URLs allowed."""
    return make_settings()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records every request and answers as scripted."""
    with Receiver() as server:
        yield server
