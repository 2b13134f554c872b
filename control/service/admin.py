"""Operator actions behind `callapi-events admin`: accounts, extensions and API clients."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.errors

from control.errors import InvalidInput, NotFound
from control.service.auth import hash_secret
from control.service.tenancy import ExtensionRef
from control.service.validation import clean_text, parse_extension
from schemas.extensions import ORG_CODE_DIGITS, organization_code, tenant_of


@dataclass(frozen=True)
class Account:
    id: int
    kind: str
    name: str
    parent_id: int | None = None
    code: str | None = None


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    account_id: int


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _name(name: str, kind: str) -> str:
    """A display name, trimmed: not empty, text PostgreSQL can store, and one line without control characters (a
    line break or an escape sequence would rewrite an operator's terminal and logs)."""
    if not name.strip():
        raise InvalidInput("name_invalid", f"{kind} needs a name", field="name")
    if _CONTROL.search(name.strip()):
        raise InvalidInput("name_invalid", f"{kind}'s name must not contain control characters (a line break, a tab "
                           "or an escape sequence): give it as one line of text", field="name")
    return clean_text(name.strip(), code="name_invalid", field="name")


def create_provider(conn: psycopg.Connection[Any], name: str) -> Account:
    name = _name(name, "a provider")
    row = conn.execute(
        "INSERT INTO accounts (kind, name) VALUES ('provider', %s) RETURNING id", (name,)
    ).fetchone()
    assert row is not None
    return Account(row[0], "provider", name)


def create_organization(conn: psycopg.Connection[Any], provider_id: int, code: str, name: str) -> Account:
    """An organization (tenant) with a numeric code such as 0003, under a provider."""
    try:
        code = organization_code(code)
    except ValueError as error:
        raise InvalidInput("code_invalid", str(error), field="code") from None
    name = _name(name, "an organization")
    with conn.transaction():
        provider = conn.execute("SELECT 1 FROM accounts WHERE id = %s AND kind = 'provider'", (provider_id,))
        if provider.fetchone() is None:
            raise NotFound(f"no provider {provider_id}")
        row = conn.execute(  # the unique code decides, also between two creations at once
            "INSERT INTO accounts (kind, parent_id, code, name) VALUES ('organization', %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING id",
            (provider_id, code, name),
        ).fetchone()
        if row is None:
            raise InvalidInput("code_taken", f"organization code {code} is already used", field="code")
    return Account(row[0], "organization", name, provider_id, code)


def create_extension(conn: psycopg.Connection[Any], organization_id: int, number: str) -> ExtensionRef:
    """An extension of an organization: `0003*210`, `0003210`, or just `210` (the organization's code is added)."""
    [(extension, _)] = create_extensions(conn, organization_id, [number])
    return extension


def create_extensions(
    conn: psycopg.Connection[Any], organization_id: int, numbers: Sequence[str], *, existing_ok: bool = False,
) -> list[tuple[ExtensionRef, bool]]:
    """Extensions of an organization, all or none (one transaction): [(extension, created)] in the order given.

    A number that already exists is refused (`extension_taken`), or, with `existing_ok`, returned with
    created False when it belongs to this organization.
    """
    with conn.transaction():
        org = conn.execute(
            "SELECT code FROM accounts WHERE id = %s AND kind = 'organization'", (organization_id,)
        ).fetchone()
        if org is None:
            raise NotFound(f"no organization {organization_id}")
        wanted = list(dict.fromkeys(_canonical_in(org[0], number) for number in numbers))
        existing = {number: (extension_id, owner) for number, extension_id, owner in conn.execute(
            "SELECT number, id, organization_id FROM extensions WHERE number = ANY(%s)", (wanted,))}
        for number, (_, owner) in existing.items():
            if not existing_ok or owner != organization_id:
                raise InvalidInput("extension_taken", f"extension {number} already exists", field="number")
        new = [number for number in wanted if number not in existing]
        try:
            created = {number: extension_id for extension_id, number in conn.execute(
                "INSERT INTO extensions (organization_id, number) SELECT %s, unnest(%s::text[]) RETURNING id, number",
                (organization_id, new))}
        except psycopg.errors.UniqueViolation:  # created meanwhile by someone else
            raise InvalidInput("extension_taken", "an extension was created meanwhile; try again",
                               field="number") from None
    ids = {**{number: extension_id for number, (extension_id, _) in existing.items()}, **created}
    return [(ExtensionRef(ids[number], number, organization_id), number in created) for number in wanted]


def _canonical_in(org_code: str, number: str) -> str:
    text = number.strip()
    canonical = parse_extension(text if "*" in text or len(text) > ORG_CODE_DIGITS else f"{org_code}*{text}")
    if tenant_of(canonical) != org_code:
        raise InvalidInput("extension_invalid", f"extension {canonical} is not in organization {org_code}",
                           field="number")
    return canonical


def create_client(conn: psycopg.Connection[Any], account_id: int) -> ClientCredentials:
    """An API client of an account; the secret is kept only as an argon2id hash and returned this once."""
    if conn.execute("SELECT 1 FROM accounts WHERE id = %s", (account_id,)).fetchone() is None:
        raise NotFound(f"no account {account_id}")
    client_id = "cli_" + secrets.token_hex(12)
    client_secret = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_clients (client_id, secret_hash, account_id) VALUES (%s, %s, %s)",
        (client_id, hash_secret(client_secret), account_id),
    )
    return ClientCredentials(client_id, client_secret, account_id)
