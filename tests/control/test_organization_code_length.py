"""Migration 0004: PostgreSQL itself refuses organization codes longer than the 4 digits the application accepts,
while rows stored before it (NOT VALID) stay readable."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from control.migrate import MIGRATIONS_DIR, migrate

CONSTRAINT = "accounts_organization_code_digits"


def insert_organization(conn: psycopg.Connection[Any], code: str) -> None:
    provider = conn.execute("INSERT INTO accounts (kind, name) VALUES ('provider', 'P') RETURNING id").fetchone()
    assert provider is not None
    conn.execute(
        "INSERT INTO accounts (kind, parent_id, code, name) VALUES ('organization', %s, %s, 'O')",
        (provider[0], code),
    )


def free_code(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "SELECT lpad(n::text, 4, '0') FROM generate_series(1000, 9999) AS n"
        " WHERE lpad(n::text, 4, '0') NOT IN (SELECT code FROM accounts WHERE code IS NOT NULL)"
        " ORDER BY random() LIMIT 1"
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_a_five_digit_code_is_a_check_violation_and_four_digits_are_stored(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation) as raised, conn.transaction(force_rollback=True):
            insert_organization(conn, "12345")
        assert raised.value.diag.constraint_name == CONSTRAINT
        with conn.transaction(force_rollback=True):  # the session's other tests keep the codes they drew
            insert_organization(conn, free_code(conn))


def test_rows_stored_before_the_migration_stay_and_are_checked_when_updated(
    unmigrated_database_url: str, tmp_path: Path,
) -> None:
    for migration in sorted(MIGRATIONS_DIR.glob("000[1-3]_*.sql")):
        shutil.copy(migration, tmp_path)
    migrate(unmigrated_database_url, tmp_path)
    with psycopg.connect(unmigrated_database_url, autocommit=True) as conn:
        insert_organization(conn, "1234567")  # allowed by 0001's CHECK
    assert "0004_organization_code_length" in migrate(unmigrated_database_url)
    with psycopg.connect(unmigrated_database_url, autocommit=True) as conn:
        assert conn.execute("SELECT code FROM accounts WHERE kind = 'organization'").fetchall() == [("1234567",)]
        validated = conn.execute("SELECT convalidated FROM pg_constraint WHERE conname = %s", (CONSTRAINT,))
        assert validated.fetchone() == (False,)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE accounts SET name = 'Renamed' WHERE code = '1234567'")
        with pytest.raises(psycopg.errors.CheckViolation):
            insert_organization(conn, "00003")
        insert_organization(conn, "0003")
