"""`stack up` creates the `callapi` database, and says so when it cannot.

A dedicated PostgreSQL in a temporary folder (never the shared one) loses its `callapi` database and the write
permission on its `base` folder, where every new database gets its files: `createdb` then really fails, and `up`
must report that with what to do next instead of "started".
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from deploy.local.errors import StackError
from deploy.local.postgres import DATABASE, PASSWORD, USER, Postgres


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    folder = Path(tempfile.mkdtemp(prefix="callapi-createdb-", dir="/tmp"))
    folder.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root
    server = Postgres(stack_dir=folder)
    yield server
    server.down()
    shutil.rmtree(folder, ignore_errors=True)


def drop_our_database(server: Postgres) -> None:
    maintenance = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{server.port}/postgres"
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {DATABASE}")


def test_a_failed_createdb_stops_up_with_what_to_do_next(postgres: Postgres) -> None:
    assert postgres.up().startswith("started")
    drop_our_database(postgres)
    postgres.down()
    base = postgres.data / "base"
    base.chmod(0o500)  # the server may read its databases but not add one
    try:
        with pytest.raises(StackError) as raised:
            print(postgres.up())
        assert not postgres.running()  # else the next `up` would say "already running" without the database
    finally:
        base.chmod(0o700)
    message = str(raised.value)
    assert "createdb" in message and f"`{DATABASE}`" in message, message
    assert "Permission denied" in message, message
    assert "stack up" in message, message

    assert postgres.up().startswith("started")  # the cause fixed, `up` creates the database
    with psycopg.connect(postgres.dsn) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (DATABASE,)
