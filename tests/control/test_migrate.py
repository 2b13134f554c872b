"""Migrations on a real PostgreSQL: in order, each once, atomic, safe when several pods run them at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from control.migrate import load_migrations, migrate


def write(folder: Path, name: str, sql: str) -> None:
    (folder / name).write_text(sql)


def test_migrations_apply_in_order_once(unmigrated_database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0002_add_column.sql", "ALTER TABLE t ADD COLUMN b int;")
    write(tmp_path, "0001_create.sql", "CREATE TABLE t (a int); INSERT INTO t VALUES (1);")
    assert migrate(unmigrated_database_url, tmp_path) == ["0001_create", "0002_add_column"]
    assert migrate(unmigrated_database_url, tmp_path) == []
    with psycopg.connect(unmigrated_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
        versions = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert versions == [(1, "0001_create"), (2, "0002_add_column")]


def test_a_failing_migration_rolls_back_and_is_not_recorded(unmigrated_database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (a int);")
    write(tmp_path, "0002_broken.sql", "CREATE TABLE half (a int); SELECT no_such_function();")
    with pytest.raises(psycopg.errors.UndefinedFunction):
        migrate(unmigrated_database_url, tmp_path)
    with psycopg.connect(unmigrated_database_url) as conn:
        assert conn.execute("SELECT to_regclass('half')").fetchone() == (None,)
        assert conn.execute("SELECT array_agg(version) FROM schema_migrations").fetchone() == ([1],)


def test_concurrent_runs_apply_each_migration_once(unmigrated_database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_slow.sql", "SELECT pg_sleep(0.5); CREATE TABLE once_only (a int);")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: migrate(unmigrated_database_url, tmp_path), range(4)))
    assert sorted(len(applied) for applied in results) == [0, 0, 0, 1]


def test_project_migrations_are_well_named() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(versions)


def test_bad_file_names_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "create_things.sql", "SELECT 1;")
    with pytest.raises(ValueError, match="NNNN_description"):
        load_migrations(tmp_path)
