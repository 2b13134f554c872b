"""Schemathesis fuzzes the real API (uvicorn) from its /openapi.json, with a real token: no 5xx, and every
answer matches the documented status codes, content types and schemas. Bounded in examples and time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant, make_tenant

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


@pytest.fixture(scope="module")
def fuzzed(settings: Settings, database_url: str) -> Iterator[tuple[ApiServer, Tenant, str]]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        tenant = make_tenant(conn)
    with ApiServer(settings) as api:
        yield api, tenant, api.token(tenant.client.client_id, tenant.client.client_secret)


@pytest.fixture(scope="module")
def api_schema(fuzzed: tuple[ApiServer, Tenant, str]) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed[0].url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_openapi(case: schemathesis.Case, fuzzed: tuple[ApiServer, Tenant, str]) -> None:
    api, tenant, token = fuzzed
    params = case.path_parameters or {}
    if "extension" in params and len(str(params["extension"])) % 4 != 0:
        params["userId"], params["extension"] = "@me", tenant.extension.number  # mostly a real extension
    if case.path == "/oauth/revoke":  # would revoke the shared token: give it one of its own
        token = api.token(tenant.client.client_id, tenant.client.client_secret)
    case.call_and_validate(base_url=api.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS,
                           timeout=30)
