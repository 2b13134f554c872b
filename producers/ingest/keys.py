"""Per-tenant ingest keys: created for one organization, shown once, kept only as SHA-256."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import psycopg

from producers.errors import ProducerError
from producers.ingest.auth import token_hash

KEY_PREFIX = "cik_"


@dataclass(frozen=True)
class IngestKey:
    id: int
    organization_id: int
    tenant: str
    key: str


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_key(database_url: str, organization_id: int) -> IngestKey:
    """Store a new key for the organization; the returned `key` is the only copy of it."""
    key = new_key()
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT code FROM accounts WHERE id = %s AND kind = 'organization'", (organization_id,)
        ).fetchone()
        if row is None:
            raise ProducerError(f"account {organization_id} is not an organization (create it with `admin org create`)")
        (key_id,) = conn.execute(
            "INSERT INTO ingest_keys (organization_id, key_hash, prefix) VALUES (%s, %s, %s) RETURNING id",
            (organization_id, token_hash(key), key[:10]),
        ).fetchone() or (0,)
    return IngestKey(key_id, organization_id, row[0], key)


def revoke_key(database_url: str, key_id: int) -> bool:
    with psycopg.connect(database_url) as conn:
        cursor = conn.execute(
            "UPDATE ingest_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (key_id,)
        )
        return cursor.rowcount == 1
