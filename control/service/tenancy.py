"""Who may see what: a provider sees its organizations' extensions, an organization only its own.

Anything outside the caller's reach raises NotFound, exactly like something that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import psycopg

from control.errors import NotFound
from control.service.validation import parse_extension

AccountKind = Literal["provider", "organization"]

_IN_REACH = "(o.id = %(caller)s OR o.parent_id = %(caller)s)"


@dataclass(frozen=True)
class Caller:
    """The authenticated account (from a bearer token); `api_client_id` is the client that got the token."""

    account_id: int
    kind: AccountKind
    api_client_id: int | None = None


@dataclass(frozen=True)
class ExtensionRef:
    """An extension the caller may manage; obtain it only from resolve_extension / list_extensions."""

    id: int
    number: str
    organization_id: int


def _scope_account(caller: Caller, user_id: str) -> int:
    if user_id == "@me":
        return caller.account_id
    if user_id.isascii() and user_id.isdigit() and len(user_id) < 19:
        return int(user_id)
    raise NotFound(f"no account {user_id!r}")


def resolve_extension(conn: psycopg.Connection, caller: Caller, user_id: str, extension: str) -> ExtensionRef:
    """The extension `extension` (either form) of account `user_id` (`@me` or an id), within the caller's reach.

    Raises InvalidInput(extension_invalid) for a malformed number and NotFound for anything else.
    """
    number = parse_extension(extension)
    scope = _scope_account(caller, user_id)
    row = conn.execute(
        "SELECT e.id, e.number, e.organization_id FROM extensions e JOIN accounts o ON o.id = e.organization_id"
        " WHERE e.number = %(number)s AND (o.id = %(scope)s OR o.parent_id = %(scope)s) AND " + _IN_REACH,
        {"number": number, "scope": scope, "caller": caller.account_id},
    ).fetchone()
    if row is None:
        raise NotFound(f"no extension {number} for account {user_id}")
    return ExtensionRef(*row)


def list_extensions(conn: psycopg.Connection, caller: Caller) -> list[ExtensionRef]:
    """Every extension the caller may manage, by number."""
    rows = conn.execute(
        "SELECT e.id, e.number, e.organization_id FROM extensions e JOIN accounts o ON o.id = e.organization_id"
        " WHERE " + _IN_REACH + " ORDER BY e.number",
        {"caller": caller.account_id},
    ).fetchall()
    return [ExtensionRef(*row) for row in rows]


def lock_extension(conn: psycopg.Connection, extension: ExtensionRef) -> None:
    """Serialise changes to one extension's requests (inside the caller's transaction): the cap holds exactly."""
    conn.execute("SELECT 1 FROM extensions WHERE id = %s FOR UPDATE", (extension.id,))
