"""PostgreSQL stopped for 20 s under load (a dedicated server, never the shared one): the data path keeps
delivering, the Control API answers 503 meanwhile and recovers once the database is back."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from control.migrate import migrate
from control.service import create_client
from deploy.local.postgres import Postgres
from producers.simulator.generator import Plan
from schemas.settings import Settings
from tests.faults.harness import receiver_url_for, running, settle, simulator, where_lost
from tests.faults.report import record
from tests.receiver import Receiver
from tests.services import wait_until

pytestmark = pytest.mark.faults

RATE_EPS, COUNT, OUTAGE_S = 40.0, 1600, 20.0


@pytest.fixture(scope="module")
def dedicated_postgres() -> Iterator[Postgres]:
    home = Path(tempfile.mkdtemp(prefix="callapi-faults-pg-", dir="/tmp"))
    home.chmod(0o755)  # the server runs as `postgres` when we are root
    postgres = Postgres(stack_dir=home)
    try:
        postgres.up()
        migrate(postgres.dsn)
        yield postgres
    finally:
        postgres.down()
        shutil.rmtree(home, ignore_errors=True)


def bearer(api_url: str, database_url: str, organization_id: int) -> dict[str, str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        client = create_client(conn, organization_id)
    answer = httpx.post(f"{api_url}/oauth/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.client_secret})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def api_status(url: str, headers: dict[str, str]) -> int:
    try:
        return httpx.get(url, headers=headers, timeout=10).status_code
    except httpx.TransportError:
        return 0


def test_postgresql_down_for_20_s_keeps_delivering_and_the_api_recovers(
    make_settings: Callable[..., Settings], dedicated_postgres: Postgres, receiver: Receiver,
) -> None:
    settings = make_settings().model_copy(update={"database_url": dedicated_postgres.dsn})
    plan = Plan(seed=83, organizations=2, extensions=5, rate_eps=RATE_EPS, tenant_base=1)
    with running(settings, plan, receiver_url_for(receiver.url), name="faults-postgres") as pipeline:
        tenant = plan.population().tenants[0]
        headers = bearer(pipeline.api.url, settings.database_url, pipeline.world.organization_ids[tenant.code])
        resource = f"{pipeline.api.url}/uapi/extensions/@me/{tenant.extensions[0].number}/phoneCallEvents"
        assert api_status(resource, headers) == 200
        load = simulator(settings, plan, count=COUNT, rate_eps=RATE_EPS).start()
        wait_until(lambda: len(receiver.received()) >= 100, timeout_s=60, what="load flowing")

        dedicated_postgres.down()
        before = len(receiver.received())
        statuses = set()
        outage_ends = time.monotonic() + OUTAGE_S
        while time.monotonic() < outage_ends:
            statuses.add(api_status(resource, headers))
            time.sleep(1.0)
        during = len(receiver.received()) - before
        dedicated_postgres.up()
        recovered_at = time.monotonic()
        wait_until(lambda: api_status(resource, headers) == 200, timeout_s=60, what="the API answering 200 again")
        recovery_s = time.monotonic() - recovered_at

        assert load.process is not None and load.process.wait(180) == 0, load.log()[-2000:]
        outcome = settle(settings, pipeline.world, lambda: [r.headers["webhook-id"] for r in receiver.received()])
        diagnosis = where_lost(settings, pipeline.world, outcome.report.lost)
    record("postgres down 20 s", outcome.report, events=outcome.events,
           notes=f"{during} delivered during the outage; API answered {sorted(statuses)} then 200 "
                 f"{recovery_s:.1f} s after restart")
    assert statuses == {503}, f"the API answered {statuses} while PostgreSQL was down"
    assert during > 0, "nothing was delivered while PostgreSQL was down"
    assert outcome.report.ok, outcome.report.summary() + "; " + diagnosis
