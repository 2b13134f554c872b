"""A bench's own tenant in PostgreSQL, under a provider of its own that is removed (with all below it) afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from control.service import admin
from control.service.admin import Account


@contextlib.contextmanager
def bench_organization(conn: psycopg.Connection[Any], name: str) -> Iterator[Account]:
    """An organization with a 4-digit code no other one has; its provider is deleted on the way out (cascading)."""
    provider = admin.create_provider(conn, name)
    try:
        taken = {row[0] for row in conn.execute("SELECT code FROM accounts WHERE code IS NOT NULL").fetchall()}
        code = next(f"{n:04d}" for n in range(8999, 0, -1) if f"{n:04d}" not in taken)  # the demo's is 9990
        yield admin.create_organization(conn, provider.id, code, "bench")
    finally:
        conn.execute("DELETE FROM accounts WHERE id = %s", (provider.id,))
