"""Idempotency-Key on Add (the IETF httpapi draft's header, as Stripe and others use it).

A retried Add with the same key and the same fields answers with the request the first one made (and its secret,
when it made one), instead of adding a second request; the same key with other fields is refused. Keys are kept
for KEPT_HOURS; the extension's lock (taken by Add) serialises two Adds that race with one key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import psycopg

from control.errors import InvalidInput, KeyReused
from control.service.tenancy import ExtensionRef

KEPT_HOURS = 24
MAX_KEY_CHARS = 255


def parse_key(value: str) -> str:
    if not 1 <= len(value) <= MAX_KEY_CHARS or not all(" " <= c <= "~" for c in value):
        raise InvalidInput("idempotency_key_invalid", f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable "
                                                      "ASCII characters, e.g. a UUID", field="Idempotency-Key")
    return value


def fingerprint(fields: dict[str, Any]) -> str:
    """Of the Add's parsed fields, so "0" and 0, or a URL's two spellings, are the same Add."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def added_before(conn: psycopg.Connection[Any], extension: ExtensionRef, key: str, print_: str) -> str | None:
    """The Request ID the Add with this key made within KEPT_HOURS, or None (raises KeyReused for other fields)."""
    row = conn.execute(
        "SELECT fingerprint, request_id FROM add_idempotency_keys WHERE extension_id = %s AND key = %s"
        " AND created_at > now() - make_interval(hours => %s)",
        (extension.id, key, KEPT_HOURS),
    ).fetchone()
    if row is None:
        return None
    if row[0] != print_:
        raise KeyReused(f"Idempotency-Key {key!r} was used for another Add on this extension in the last "
                        f"{KEPT_HOURS} hours: use a new key for a new request")
    return str(row[1])


def remember(conn: psycopg.Connection[Any], extension: ExtensionRef, key: str, print_: str, request_id: str) -> None:
    """Keep the key for KEPT_HOURS (an expired one is taken over); forget the expired ones."""
    conn.execute(
        "INSERT INTO add_idempotency_keys (extension_id, key, fingerprint, request_id) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (extension_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
        " request_id = EXCLUDED.request_id, created_at = now()",
        (extension.id, key, print_, request_id),
    )
    conn.execute("DELETE FROM add_idempotency_keys WHERE created_at < now() - make_interval(hours => %s)",
                 (KEPT_HOURS,))
