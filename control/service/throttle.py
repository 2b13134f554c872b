"""Sign-in throttling: failed client credentials are counted in PostgreSQL (shared by every API replica),
per client_id tried and per source address, in fixed windows that start at the first failure.

Past a limit, every sign-in for that client_id or from that address is refused, even with the right secret,
until the window ends. A success deletes its client_id's count (not the address's) and sweeps expired rows.

Race-safe by construction: one read before each attempt, one upsert per failure (the increment is atomic,
so concurrent failures are never lost). At worst, attempts that read the count just before it reached the
limit still run: the overshoot is bounded by the attempts in flight at that moment.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_address, ip_network
from typing import Any, TypeVar

import psycopg

from control.errors import Throttled, Unauthorized
from control.service.auth import IssuedToken, issue_token, verify_client
from control.service.tenancy import Caller
from schemas.settings import Settings

MAX_CLIENT_ID_CHARS = 255  # longer (or unstorable) client_ids cannot exist: only their address is counted
IPV6_PREFIX = 64  # one IPv6 subscriber usually holds a whole /64: count it as one source
T = TypeVar("T")


@dataclass(frozen=True)
class SignInPolicy:
    window_s: int
    max_failures_per_client: int
    max_failures_per_address: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInPolicy:
        return cls(settings.sign_in_window_s, settings.sign_in_max_failures_per_client,
                   settings.sign_in_max_failures_per_address)


def client_subject(client_id: str) -> str | None:
    """The counter key of a client_id, or None when no client can have it (too long, NUL, lone surrogate)."""
    if len(client_id) > MAX_CLIENT_ID_CHARS or "\x00" in client_id:
        return None
    try:
        client_id.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return client_id


def address_subject(address: str) -> str:
    """The counter key of a source address: IPv4 as is, IPv6 by its /64; anything else verbatim (bounded)."""
    try:
        parsed = ip_address(address)
    except ValueError:
        return address[:64]
    if parsed.version == 6:
        return str(ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return str(parsed)


def retry_after_s(window_ends: datetime, now: datetime) -> int:
    """Whole seconds until the window ends, at least 1 (the value of a Retry-After header)."""
    return max(1, math.ceil((window_ends - now).total_seconds()))


def _throttled(seconds: int) -> Throttled:
    return Throttled(f"too many failed sign-ins for this client_id or from this address: sign-in is paused for "
                     f"{seconds} s (see Retry-After); check the client_id and client_secret before trying again",
                     retry_after_s=seconds)


def check(conn: psycopg.Connection[Any], policy: SignInPolicy, client_id: str, address: str, *,
          now: datetime) -> None:
    """Throttled when the client_id or the address reached its limit in a window that has not ended."""
    row = conn.execute(
        "SELECT max(window_ends) FROM sign_in_failures WHERE window_ends > %(now)s AND ("
        " (kind = 'client' AND subject = %(client)s AND failures >= %(max_client)s)"
        " OR (kind = 'address' AND subject = %(address)s AND failures >= %(max_address)s))",
        {"now": now, "client": client_subject(client_id), "address": address_subject(address),
         "max_client": policy.max_failures_per_client, "max_address": policy.max_failures_per_address},
    ).fetchone()
    if row is not None and row[0] is not None:
        raise _throttled(retry_after_s(row[0], now))


def record_failure(conn: psycopg.Connection[Any], policy: SignInPolicy, client_id: str, address: str, *,
                   now: datetime) -> None:
    """One more failure for the client_id and the address; a window that has ended restarts at 1."""
    conn.execute(
        "INSERT INTO sign_in_failures AS f (kind, subject, failures, window_ends)"
        " SELECT kind, subject, 1, %(ends)s FROM (VALUES ('client', %(client)s::text),"
        " ('address', %(address)s::text)) AS v (kind, subject) WHERE subject IS NOT NULL"
        " ON CONFLICT (kind, subject) DO UPDATE SET"
        " failures = CASE WHEN f.window_ends <= %(now)s THEN 1 ELSE f.failures + 1 END,"
        " window_ends = CASE WHEN f.window_ends <= %(now)s THEN excluded.window_ends ELSE f.window_ends END",
        {"now": now, "ends": now + timedelta(seconds=policy.window_s), "client": client_subject(client_id),
         "address": address_subject(address)},
    )


def record_success(conn: psycopg.Connection[Any], client_id: str, *, now: datetime) -> None:
    """The client_id starts afresh; expired rows of any key go too (cheap: indexed, and usually none)."""
    conn.execute("DELETE FROM sign_in_failures WHERE (kind = 'client' AND subject = %s) OR window_ends <= %s",
                 (client_subject(client_id), now))


def _throttled_attempt(conn: psycopg.Connection[Any], policy: SignInPolicy, client_id: str, address: str, *,
                       now: datetime, attempt: Callable[[], T]) -> T:
    """`attempt` behind the throttle: Throttled (429) before checking the secret when a limit is reached,
    Unauthorized (counted) for wrong credentials, else its result."""
    check(conn, policy, client_id, address, now=now)
    try:
        result = attempt()
    except Unauthorized:
        record_failure(conn, policy, client_id, address, now=now)
        raise
    record_success(conn, client_id, now=now)
    return result


def sign_in(conn: psycopg.Connection[Any], policy: SignInPolicy, client_id: str, client_secret: str, *,
            address: str, ttl_s: int, now: datetime) -> IssuedToken:
    """issue_token behind the throttle: Throttled, Unauthorized (counted), else the token."""
    return _throttled_attempt(conn, policy, client_id, address, now=now,
                              attempt=lambda: issue_token(conn, client_id, client_secret, ttl_s=ttl_s, now=now))


def authenticate_client(conn: psycopg.Connection[Any], policy: SignInPolicy, client_id: str, client_secret: str, *,
                        address: str, now: datetime) -> Caller:
    """The client behind its credentials (POST /oauth/revoke by HTTP Basic), behind the same throttle and
    counters as sign_in: a secret cannot be guessed there instead."""
    return _throttled_attempt(conn, policy, client_id, address, now=now,
                              attempt=lambda: verify_client(conn, client_id, client_secret))
