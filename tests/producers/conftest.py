"""Fixtures of the producer tests: one ingest endpoint per module, a tenant to ingest for, an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from schemas.settings import Settings
from tests.producers.helpers import IngestTenant, make_tenant
from tests.producers.ingest_server import serving, until_ready


@pytest.fixture(scope="module")
async def ingest_url(settings: Settings) -> AsyncIterator[str]:
    async with serving(settings) as url, httpx.AsyncClient() as client:
        await until_ready(client, url)
        yield url


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> IngestTenant:
    return make_tenant(settings.database_url)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http
