"""Standard Webhooks signing secrets of a request (`whsec_` + base64 of 32 random bytes).

A request signs while it has a secret without an expiry; a rotated-out secret keeps working until its
`expires_at`. Secrets are returned once, at creation or rotation, and never logged.
"""

from __future__ import annotations

import base64
import secrets

import psycopg

from control.service.tenancy import ExtensionRef

SECRET_BYTES = 32
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def add_secret(conn: psycopg.Connection, extension: ExtensionRef, request_id: str) -> str:
    secret = new_secret()
    conn.execute(
        "INSERT INTO signing_secrets (extension_id, request_id, secret) VALUES (%s, %s, %s)",
        (extension.id, request_id, secret),
    )
    return secret


def current_secret(conn: psycopg.Connection, extension: ExtensionRef, request_id: str) -> str | None:
    """The secret the request signs with now (not one rotated out), if it signs."""
    row = conn.execute(
        "SELECT secret FROM signing_secrets WHERE extension_id = %s AND request_id = %s AND expires_at IS NULL"
        " ORDER BY created_at DESC LIMIT 1",
        (extension.id, request_id),
    ).fetchone()
    return None if row is None else str(row[0])


def rotate(conn: psycopg.Connection, extension: ExtensionRef, request_id: str, *, overlap_s: int) -> str:
    """Give the current secret(s) an expiry `overlap_s` from now, and add a new one."""
    conn.execute(
        "UPDATE signing_secrets SET expires_at = now() + make_interval(secs => %s)"
        " WHERE extension_id = %s AND request_id = %s AND expires_at IS NULL",
        (overlap_s, extension.id, request_id),
    )
    return add_secret(conn, extension, request_id)


def remove_secrets(conn: psycopg.Connection, extension: ExtensionRef, request_id: str) -> None:
    conn.execute(
        "DELETE FROM signing_secrets WHERE extension_id = %s AND request_id = %s", (extension.id, request_id)
    )


def is_signing(conn: psycopg.Connection, extension: ExtensionRef, request_id: str) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM signing_secrets"
        " WHERE extension_id = %s AND request_id = %s AND expires_at IS NULL)",
        (extension.id, request_id),
    ).fetchone()
    return bool(row and row[0])

