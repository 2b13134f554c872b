"""`simulate --provision`: create the simulated tenants, extensions and requests in the control plane.

Accounts, extensions and API clients are created with the operator CLI (`callapi-events admin … --json`,
run as a subprocess); requests through the Control API over HTTP, as any client would. Safe to rerun:
organizations that exist are reused (looked up by code), existing extensions are accepted, and a request
whose type and URL an extension already has is not added again.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from producers.errors import ProvisionError
from producers.simulator.control_api import ControlApi
from producers.simulator.population import Population, SimExtension
from schemas.events import EventType

ADMIN_CONCURRENCY = 3
EXTENSIONS_PER_CALL = 1000  # numbers on one command line


@dataclass
class ProvisionReport:
    organizations_created: int = 0
    extensions_created: int = 0
    requests_created: int = 0
    requests_existing: int = 0
    organization_ids: dict[str, int] = field(default_factory=dict)


def request_url(receiver_url: str, extension: SimExtension, event_type: EventType) -> str:
    """Each request gets its own path, so a receiver can tell which extension and type a call is for."""
    return f"{receiver_url.rstrip('/')}/{extension.extended}/{event_type.slug}"


def request_method(event_type: EventType) -> int:
    """Alternate GET (0) and POST (1) across types, so both notification forms are exercised."""
    return int(event_type) % 2


class AdminCli:
    """`callapi-events admin … --json` as a subprocess; its JSON answer, or ProvisionError."""

    def __init__(self, *, env: dict[str, str] | None = None, concurrency: int = ADMIN_CONCURRENCY) -> None:
        self.env = env
        self._slots = asyncio.Semaphore(concurrency)

    async def __call__(self, *args: str) -> dict[str, Any]:
        command = [sys.executable, "-m", "callapi_events", "admin", *args, "--json"]
        async with self._slots:
            process = await asyncio.create_subprocess_exec(
                *command, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
            )
            out, err = await process.communicate()
        if process.returncode != 0:
            raise ProvisionError(f"`admin {' '.join(args)}` failed: {(out + err).decode(errors='replace').strip()}")
        try:
            answer = json.loads(out)
        except ValueError:
            raise ProvisionError(f"`admin {' '.join(args)} --json` did not print JSON: {out[:200]!r}") from None
        if not isinstance(answer, dict):
            raise ProvisionError(f"`admin {' '.join(args)} --json` printed {answer!r}, not an object")
        return answer


def existing_organizations(database_url: str, codes: list[str]) -> dict[str, tuple[int, int]]:
    """{code: (organization id, provider id)} of the codes that already exist."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT code, id, parent_id FROM accounts WHERE kind = 'organization' AND code = ANY(%s)", (codes,)
        ).fetchall()
    return {code: (org_id, parent_id) for code, org_id, parent_id in rows}


async def ensure_accounts(
    population: Population, *, admin: AdminCli, database_url: str, report: ProvisionReport,
) -> dict[str, tuple[int, int]]:
    """Every simulated organization exists; returns {code: (organization id, provider id)}."""
    codes = [tenant.code for tenant in population.tenants]
    found = existing_organizations(database_url, codes)
    missing = [tenant for tenant in population.tenants if tenant.code not in found]
    if missing:
        provider = await admin("provider", "create", f"Simulated provider {missing[0].code}-{missing[-1].code}")
        provider_id = int(provider["id"])
        created = await asyncio.gather(*(
            admin("org", "create", "--provider", str(provider_id), tenant.code, tenant.name) for tenant in missing
        ))
        for tenant, org in zip(missing, created, strict=True):
            found[tenant.code] = (int(org["id"]), provider_id)
        report.organizations_created = len(missing)
    report.organization_ids = {code: ids[0] for code, ids in found.items()}
    return found


async def ensure_extensions(population: Population, *, admin: AdminCli, orgs: dict[str, tuple[int, int]],
                            report: ProvisionReport, advance: Callable[[], None]) -> None:
    """Every simulated extension exists: one `admin extension create-many` per organization (and chunk)."""
    async def create(org_id: int, numbers: list[str]) -> None:
        answer = await admin("extension", "create-many", "--org", str(org_id), "--existing-ok", *numbers)
        report.extensions_created += len(answer["created"])
        for _ in numbers:
            advance()

    await asyncio.gather(*(
        create(orgs[tenant.code][0], numbers)
        for tenant in population.tenants
        for numbers in _chunks([extension.number for extension in tenant.extensions], EXTENSIONS_PER_CALL)
    ))


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


async def ensure_requests(
    population: Population, *, api: ControlApi, tokens: dict[int, str], orgs: dict[str, tuple[int, int]],
    receiver_url: str, report: ProvisionReport, advance: Callable[[], None], replace: bool = False,
) -> None:
    """One request per event type per extension, pointing at the receiver (GET and POST alternate).

    With `replace`, the extension's existing requests are removed first (a demo tenant starts afresh).
    """
    slots = asyncio.Semaphore(8)

    async def one_extension(org_id: int, provider_id: int, extension: SimExtension) -> None:
        token = tokens[provider_id]
        async with slots:
            have = await api.existing(token, org_id, extension)
            for event_type in EventType:
                if replace:
                    await api.remove_type(token, org_id, extension, event_type)
                    have = set()
                url = request_url(receiver_url, extension, event_type)
                if (int(event_type), url) in have:
                    report.requests_existing += 1
                    continue
                await api.add(token, org_id, extension, event_type, method=request_method(event_type), url=url)
                report.requests_created += 1
        advance()

    await asyncio.gather(*(
        one_extension(*orgs[tenant.code], extension) for tenant in population.tenants for extension in tenant.extensions
    ))


async def provision(
    population: Population, *, database_url: str, api_url: str, receiver_url: str,
    credentials: tuple[str, str] | None = None, admin: AdminCli | None = None,
    advance: Callable[[], None] = lambda: None, replace: bool = False,
) -> ProvisionReport:
    """Tenants and extensions through `admin`, requests through the Control API at `api_url`.

    `credentials` (client id, secret) must reach every simulated organization (e.g. a provider's client);
    without them, a client is created for each provider involved.
    """
    admin = admin or AdminCli()
    report = ProvisionReport()
    orgs = await ensure_accounts(population, admin=admin, database_url=database_url, report=report)
    await ensure_extensions(population, admin=admin, orgs=orgs, report=report, advance=advance)
    async with httpx.AsyncClient() as client:
        api = ControlApi(client=client, api_url=api_url)
        providers = sorted({provider_id for _, provider_id in orgs.values()})
        tokens = {}
        for provider_id in providers:
            client_id, secret = credentials or await _new_client(admin, provider_id)
            tokens[provider_id] = await api.token(client_id, secret)
        await ensure_requests(population, api=api, tokens=tokens, orgs=orgs, receiver_url=receiver_url,
                              report=report, advance=advance, replace=replace)
    return report


async def _new_client(admin: AdminCli, account_id: int) -> tuple[str, str]:
    created = await admin("client", "create", "--account", str(account_id))
    return str(created["client_id"]), str(created["client_secret"])
