"""The signing secret a flash message shows once, kept in PostgreSQL while the flash cookie holds a reference to it.

The flash cookie is signed, not encrypted: a secret in it would sit readable in the browser's cookie store until the
next page. A row here is shared by every API replica behind the load balancer (a process's memory is not); it is
deleted when taken, and unusable after the flash's lifetime. An expired row is deleted by every keep and take, by the
relay's periodic sweep (control.relay.sweep) and at sign-out, so a secret never shown does not wait for a later one.
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg

from control.ui.session import FLASH_MAX_AGE_S


def _forget_expired(conn: psycopg.Connection[Any]) -> None:
    conn.execute("DELETE FROM ui_flash_secrets WHERE expires_at <= now()")


def keep(conn: psycopg.Connection[Any], secret: str) -> str:
    """Keep `secret` for one flash lifetime; the random reference the flash cookie carries instead."""
    ref = secrets.token_urlsafe(32)
    _forget_expired(conn)
    conn.execute("INSERT INTO ui_flash_secrets (ref, secret, expires_at)"
                 " VALUES (%s, %s, now() + make_interval(secs => %s))", (ref, secret, FLASH_MAX_AGE_S))
    return ref


def take(conn: psycopg.Connection[Any], ref: str) -> str | None:
    """The secret kept under `ref`, deleted as it is read (shown once); None once taken or expired."""
    row = conn.execute("DELETE FROM ui_flash_secrets WHERE ref = %s RETURNING secret, expires_at > now()",
                       (ref,)).fetchone()
    _forget_expired(conn)
    return str(row[0]) if row is not None and row[1] else None
