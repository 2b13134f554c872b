"""Tenants and credentials for producer tests, written with plain SQL into the session database."""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import psycopg

T = TypeVar("T")


@dataclass(frozen=True)
class IngestTenant:
    provider_id: int
    org_id: int
    code: str
    org_token: str
    """an access token issued to the organization"""
    provider_token: str
    """an access token issued to the provider (grants all its organizations)"""



def _account(conn: psycopg.Connection, kind: str, parent_id: int | None, code: str | None) -> int:
    row = conn.execute(
        "INSERT INTO accounts (kind, parent_id, code, name) VALUES (%s, %s, %s, %s) RETURNING id",
        (kind, parent_id, code, f"test {kind}"),
    ).fetchone()
    assert row is not None
    return int(row[0])


def insert_token(conn: psycopg.Connection, account_id: int, *, expires_in_s: float = 3600,
                 revoked: bool = False) -> str:
    token = secrets.token_urlsafe(24)
    client = conn.execute(
        "INSERT INTO api_clients (client_id, secret_hash, account_id) VALUES (%s, 'unused', %s) RETURNING id",
        (f"test_{secrets.token_hex(6)}", account_id),
    ).fetchone()
    assert client is not None
    conn.execute(
        "INSERT INTO access_tokens (token_hash, api_client_id, account_id, expires_at, revoked_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (hashlib.sha256(token.encode()).digest(), client[0], account_id,
         datetime.now(UTC) + timedelta(seconds=expires_in_s), datetime.now(UTC) if revoked else None),
    )
    return token


def make_tenant(database_url: str, *, codes: range = range(1000, 10_000)) -> IngestTenant:
    """A provider and an organization with a free random code, each with a valid access token."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        provider_id = _account(conn, "provider", None, None)
        for _ in range(50):
            code = f"{random.choice(codes):04d}"
            try:
                org_id = _account(conn, "organization", provider_id, code)
                break
            except psycopg.errors.UniqueViolation:
                continue
        else:
            raise RuntimeError("no free organization code")
        return IngestTenant(provider_id, org_id, code, insert_token(conn, org_id), insert_token(conn, provider_id))
