"""Accounts for control-plane tests, created through the service layer on the session database."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import psycopg

from control.errors import InvalidInput
from control.service import Account, Caller, ClientCredentials, ExtensionRef, admin


@dataclass(frozen=True)
class Tenant:
    provider: Account
    org: Account
    extension: ExtensionRef
    client: ClientCredentials

    @property
    def org_caller(self) -> Caller:
        return Caller(self.org.id, "organization")

    @property
    def provider_caller(self) -> Caller:
        return Caller(self.provider.id, "provider")


def new_org(conn: psycopg.Connection[Any], provider: Account) -> Account:
    for _ in range(50):
        try:
            return admin.create_organization(conn, provider.id, str(random.randrange(1000, 10_000)), "Org")
        except InvalidInput:  # code taken by another test: draw again
            continue
    raise RuntimeError("no free organization code")


def make_tenant(conn: psycopg.Connection[Any], provider: Account | None = None) -> Tenant:
    provider = provider or admin.create_provider(conn, "Provider")
    org = new_org(conn, provider)
    extension = admin.create_extension(conn, org.id, "210")
    return Tenant(provider, org, extension, admin.create_client(conn, org.id))
