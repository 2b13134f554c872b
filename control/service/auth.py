"""OAuth 2.0 client credentials: argon2id-hashed client secrets, random bearer tokens stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from control.errors import InvalidInput, Unauthorized
from control.service.tenancy import Caller
from control.service.validation import clean_text

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
_DUMMY_HASH = _HASHER.hash("no such client")  # unknown clients cost the same time as known ones


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _verify(secret_hash: str, secret: str) -> bool:
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError, UnicodeEncodeError):
        return False


def verify_client(conn: psycopg.Connection[Any], client_id: str, client_secret: str) -> Caller:
    """The valid, unrevoked client with these credentials, as a caller; else Unauthorized (invalid_client)."""
    try:
        clean_text(client_id, code="invalid_client", field="client_id")
    except InvalidInput:
        raise Unauthorized("unknown client or wrong secret", code="invalid_client") from None
    row = conn.execute(
        "SELECT c.id, c.secret_hash, a.id, a.kind FROM api_clients c JOIN accounts a ON a.id = c.account_id"
        " WHERE c.client_id = %s AND c.revoked_at IS NULL",
        (client_id,),
    ).fetchone()
    if not _verify(row[1] if row else _DUMMY_HASH, client_secret) or row is None:
        raise Unauthorized("unknown client or wrong secret", code="invalid_client")
    return Caller(account_id=row[2], kind=row[3], api_client_id=row[0])


def issue_token(conn: psycopg.Connection[Any], client_id: str, client_secret: str, *, ttl_s: int,
                now: datetime) -> IssuedToken:
    """A new bearer token for a valid, unrevoked client, valid `ttl_s` from `now`; else Unauthorized."""
    client = verify_client(conn, client_id, client_secret)
    token = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO access_tokens (token_hash, api_client_id, account_id, expires_at) VALUES (%s, %s, %s, %s)",
        (token_digest(token), client.api_client_id, client.account_id, now + timedelta(seconds=ttl_s)),
    )
    return IssuedToken(token, ttl_s)


def authenticate(conn: psycopg.Connection[Any], token: str, *, now: datetime) -> Caller:
    """The caller behind a bearer token; Unauthorized when unknown, expired, revoked or its client revoked."""
    row = conn.execute(
        "SELECT a.id, a.kind, c.id FROM access_tokens t JOIN accounts a ON a.id = t.account_id"
        " JOIN api_clients c ON c.id = t.api_client_id"
        " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > %s AND c.revoked_at IS NULL",
        (token_digest(token), now),
    ).fetchone()
    if row is None:
        raise Unauthorized("the bearer token is missing, expired or revoked; get a new one from /oauth/token")
    return Caller(account_id=row[0], kind=row[1], api_client_id=row[2])


def revoke_token(conn: psycopg.Connection[Any], caller: Caller, token: str) -> bool:
    """Revoke `token` if it belongs to the caller's API client (RFC 7009: unknown tokens are not an error)."""
    revoked = conn.execute(
        "UPDATE access_tokens SET revoked_at = now()"
        " WHERE token_hash = %s AND api_client_id = %s AND revoked_at IS NULL",
        (token_digest(token), caller.api_client_id),
    ).rowcount
    return revoked > 0


def revoke_client(conn: psycopg.Connection[Any], client_id: str) -> bool:
    """Revoke an API client: its tokens stop working at once. False when it was not active."""
    try:
        clean_text(client_id, code="invalid_client", field="client_id")
    except InvalidInput:  # no client has such an id
        return False
    return conn.execute(
        "UPDATE api_clients SET revoked_at = now() WHERE client_id = %s AND revoked_at IS NULL", (client_id,)
    ).rowcount > 0
