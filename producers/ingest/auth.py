"""Who may ingest for a tenant: a control-plane bearer token, or a per-tenant ingest key.

An access token (from `POST /oauth/token`) grants the organization it was issued to and every
organization of the provider it was issued to. An ingest key (`cik_…`, `callapi-events ingest-key create`)
grants one organization and does not expire, so it can sit in the URL a VoipNow system calls
(`?key=cik_…`), which cannot send an Authorization header. Both are stored only as SHA-256.
Positive answers are cached for `ingest_auth_cache_s`, so revocation takes effect within that time.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from producers.errors import IngestRejected

log = logging.getLogger(__name__)

MAX_CACHED = 10_000

_GRANT_SQL = """
SELECT t.expires_at, coalesce(t.account_id IN (o.id, o.parent_id), false)
  FROM access_tokens t
  LEFT JOIN accounts o ON o.kind = 'organization' AND o.code = %(tenant)s
 WHERE t.token_hash = %(hash)s AND t.revoked_at IS NULL AND t.expires_at > now()
UNION ALL
SELECT NULL::timestamptz, coalesce(k.organization_id = o.id, false)
  FROM ingest_keys k
  LEFT JOIN accounts o ON o.kind = 'organization' AND o.code = %(tenant)s
 WHERE k.key_hash = %(hash)s AND k.revoked_at IS NULL
"""


class Grant(Enum):
    GRANTED = "granted"
    UNKNOWN = "unknown"  # no such token, or expired, or revoked
    OTHER_TENANT = "other_tenant"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


REALM = "callapi-ingest"


class BearerRefused(IngestRejected):
    """A refusal of a credential that RFC 6750 3.1 names in the `WWW-Authenticate` challenge: `bearer_error` is
    invalid_request (400), invalid_token (401) or insufficient_scope (403)."""

    def __init__(self, status: int, code: str, message: str, *, bearer_error: str) -> None:
        super().__init__(status, code, message)
        self.bearer_error = bearer_error


class CredentialRequestInvalid(BearerRefused):
    """400 on a request that tried bearer authentication but sent its credential wrongly (two ways, twice, in the
    body)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(400, code, message, bearer_error="invalid_request")


def challenge(error: IngestRejected) -> str | None:
    """The WWW-Authenticate answered with `error`: the realm, error and error_description on a BearerRefused (the
    description in the characters RFC 6750 3 allows); the realm alone on another 401 (no credential, or not a
    bearer one: RFC 6750 3.1 names no error then); None otherwise."""
    if isinstance(error, BearerRefused):
        description = "".join(c if " " <= c <= "~" and c not in '"\\' else "'" for c in error.message)
        return f'Bearer realm="{REALM}", error="{error.bearer_error}", error_description="{description}"'
    if error.status == 401:
        return f'Bearer realm="{REALM}"'
    return None


def credential(authorization: str | None, key: str | None) -> str:
    """The token from `Authorization: Bearer …` or the `key` query field; 401 when neither is there, 400
    invalid_request when both are (RFC 6750 2: one method per request, so which one counts is no one's guess)."""
    if authorization is not None and key is not None:
        raise CredentialRequestInvalid("invalid_request", "send the token or ingest key once: in the Authorization "
                                       "header or as ?key= in the URL, not both")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise IngestRejected(401, "unauthorized", "use `Authorization: Bearer <token or ingest key>`")
        return token.strip()
    if key:
        return key.strip()
    raise IngestRejected(401, "unauthorized", "missing credentials: send a bearer token or ?key=<ingest key>")


@dataclass
class GrantCache:
    """Positive answers only, each until min(now + ttl_s, the token's expiry). `now` is Unix seconds."""

    ttl_s: float
    max_entries: int = MAX_CACHED
    _until: dict[tuple[bytes, str], float] = field(default_factory=dict)

    def hit(self, key: tuple[bytes, str], now: float) -> bool:
        until = self._until.get(key)
        if until is None:
            return False
        if until <= now:
            del self._until[key]
            return False
        return True

    def remember(self, key: tuple[bytes, str], now: float, expires_at: float) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._until) >= self.max_entries:
            self._until = {k: v for k, v in self._until.items() if v > now}
            if len(self._until) >= self.max_entries:
                self._until.clear()
        self._until[key] = min(now + self.ttl_s, expires_at)


class TenantAuth:
    """Checks credentials against PostgreSQL (a small pool), with the positive cache in front."""

    def __init__(self, *, pool: AsyncConnectionPool, cache: GrantCache, connect_timeout_s: float = 3.0) -> None:
        self.pool = pool
        self.cache = cache
        self.connect_timeout_s = connect_timeout_s

    async def check(self, token: str, tenant: str, *, now: float) -> None:
        """Return when `token` may ingest for `tenant`; IngestRejected 401/403/503 otherwise."""
        key = (token_hash(token), tenant)
        if self.cache.hit(key, now):
            return
        grant, expires_at = await self._lookup(key[0], tenant)
        if grant is Grant.UNKNOWN:
            raise BearerRefused(401, "unauthorized", "the token or ingest key is unknown, expired or revoked",
                                bearer_error="invalid_token")
        if grant is Grant.OTHER_TENANT:
            raise BearerRefused(403, "forbidden", f"the credential does not grant tenant {tenant}",
                                bearer_error="insufficient_scope")
        self.cache.remember(key, now, expires_at)

    async def _lookup(self, digest: bytes, tenant: str) -> tuple[Grant, float]:
        try:
            async with self.pool.connection(timeout=self.connect_timeout_s) as conn:
                cursor = await conn.execute(_GRANT_SQL, {"tenant": tenant, "hash": digest})
                rows = await cursor.fetchall()
        except (psycopg.Error, PoolTimeout) as error:
            log.warning("cannot check ingest credentials in PostgreSQL: %s", error)
            raise IngestRejected(503, "auth_unavailable", "credentials cannot be checked right now; retry") from None
        if not rows:
            return Grant.UNKNOWN, 0.0
        granted = [expiry for expiry, grants in rows if grants]
        if not granted:
            return Grant.OTHER_TENANT, 0.0
        return Grant.GRANTED, max(_unix(expiry) for expiry in granted)


def _unix(value: datetime | None) -> float:
    """Ingest keys have no expiry (NULL)."""
    return float("inf") if value is None else value.timestamp()
