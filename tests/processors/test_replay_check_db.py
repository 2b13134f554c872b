"""`replay --deliveries` checks its filters in the control plane's PostgreSQL, without reading `event-requests`.

The requests here exist only in PostgreSQL (no relay runs, so this prefix's `event-requests` is empty): a filter
PostgreSQL shows is accepted, one it does not know is still checked in the topic and refused.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from schemas.codec import encode
from schemas.join import join
from schemas.settings import Settings
from tests.processes import settings_env
from tests.processors.support import call_event, produce_at, request

AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
SINCE, UNTIL = AT - timedelta(minutes=5), AT + timedelta(minutes=5)


def _organization(conn: psycopg.Connection[Any]) -> tuple[str, int]:
    """A tenant code of this test alone (the session's database is shared) and its organization's id."""
    provider = conn.execute("INSERT INTO accounts (kind, name) VALUES ('provider', 'replay') RETURNING id").fetchone()
    assert provider is not None
    while True:
        code = f"{random.randrange(5000, 10_000):04d}"
        row = conn.execute("INSERT INTO accounts (kind, parent_id, code, name) VALUES ('organization', %s, %s, 'r')"
                           " ON CONFLICT DO NOTHING RETURNING id", (provider[0], code)).fetchone()
        if row is not None:
            return code, row[0]


@pytest.fixture(scope="module")
def stored(settings: Settings) -> dict[str, Any]:
    """An extension with an enabled and a disabled request in PostgreSQL; on `deliveries`, recorded jobs of those
    and of a request since removed. Another extension has a request in PostgreSQL and no recorded job."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        tenant, org = _organization(conn)
        extension = f"{tenant}*{random.randrange(10**6)}"
        row = conn.execute("INSERT INTO extensions (organization_id, number) VALUES (%s, %s) RETURNING id",
                           (org, extension)).fetchone()
        assert row is not None
        quiet = f"{tenant}*{random.randrange(10**6)}"  # requests in PostgreSQL only: no job was ever made
        other = conn.execute("INSERT INTO extensions (organization_id, number) VALUES (%s, %s) RETURNING id",
                             (org, quiet)).fetchone()
        assert other is not None
        on, off, removed = (f"r{uuid.uuid4().hex[:12]}" for _ in range(3))
        for extension_id, rid, enabled in ((row[0], on, True), (row[0], off, False), (other[0], on, True)):
            conn.execute("INSERT INTO event_requests (extension_id, id, type, method, url, enabled) VALUES "
                         "(%s, %s, 0, 'POST', 'http://127.0.0.1:9/', %s)", (extension_id, rid, enabled))
    requests = [request(extension, rid) for rid in (on, off, removed)]  # as they were when recorded
    jobs = [job for _ in range(2) for job in join(call_event(extension), requests, sequence=0, processed_at=AT)]
    at_ms = int(AT.timestamp() * 1000)
    asyncio.run(produce_at(settings, settings.topics.deliveries, [(j.extension, encode(j), at_ms) for j in jobs]))
    return {"tenant": tenant, "extension": extension, "quiet": quiet, "on": on, "off": off, "removed": removed}


def _replay(settings: Settings, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callapi_events", "replay", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(),
         "--dry-run", "--json", *args],
        env=env or settings_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.parametrize(("filters", "jobs"), [
    (("--request-id", "on"), 2),
    (("--extension", "extension"), 6),  # a removed request's recorded jobs too, with its extension as the filter
    (("--tenant", "tenant"), 6),
    (("--extension", "extension", "--request-id", "off", "--request-id", "on"), 4),  # resent even when disabled
])
def test_filters_that_postgresql_shows_are_accepted_without_event_requests(
    settings: Settings, stored: dict[str, Any], filters: tuple[str, ...], jobs: int,
) -> None:
    args = [stored.get(arg, arg) for arg in filters]
    result = _replay(settings, "--deliveries", *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["jobs"] == jobs


@pytest.mark.parametrize(("filters", "said"), [
    (("--request-id", "removed"), "--request-id removed matches no request."),
    (("--deliveries", "--request-id", "removed"), "--request-id removed matches no request."),
    (("--deliveries", "--extension", "extension", "--request-id", "removed"),
     "--extension extension has no requests."),  # event-requests (empty here) has the last word on a refusal
    (("--request-id", "on"), "--request-id on matches no request."),  # joining again reads the topic's config
])
def test_a_value_postgresql_does_not_show_is_checked_in_event_requests(
    settings: Settings, stored: dict[str, Any], filters: tuple[str, ...], said: str,
) -> None:
    result = _replay(settings, *(stored.get(arg, arg) for arg in filters))
    for name in ("removed", "extension", "on"):
        said = said.replace(f" {name} ", f" {stored[name]} ").replace(f" {name}.", f" {stored[name]}.")
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr


@pytest.mark.usefixtures("stored")
def test_an_unreachable_postgresql_leaves_the_check_to_event_requests(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"database_url": "postgresql://callapi@127.0.0.1:1/callapi"})
    result = _replay(settings, "--deliveries", "--tenant", "9999", env=settings_env(unreachable))
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert "--tenant 9999 has no extension with requests" in result.stderr and "Traceback" not in result.stderr


def test_a_value_only_postgresql_knows_that_selects_no_job_says_to_check_the_relay(
    settings: Settings, stored: dict[str, Any],
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "callapi_events", "replay", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(),
         "--dry-run", "--deliveries", "--extension", stored["quiet"]],
        env=settings_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (f"0 jobs: the control plane's PostgreSQL knows the filters' values ({settings.topics.event_requests} was "
            f"not read), but no job on {settings.topics.deliveries} in this window matches them.") in result.stdout
    assert "check that `callapi-events relay` runs with this prefix" in result.stdout
