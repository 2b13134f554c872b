"""Events in through the simulator and the ingest endpoint reach the receivers configured for them."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from producers.simulator.generator import Plan
from producers.simulator.runner import planned_events
from schemas.extensions import extended_form
from schemas.settings import Settings
from tests.polling import eventually
from tests.processes import settings_env
from tests.producers.helpers import insert_token
from tests.producers.pipeline import Pipeline, free_tenant_base, running_pipeline
from tests.receiver import Receiver
from tests.services import Service

ORGS, EXTENSIONS, COUNT, SEED = 2, 3, 200, 21


@pytest.fixture(scope="module")
def e2e_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(scope="module")
def pipeline(e2e_settings: Settings) -> Iterator[Pipeline]:
    with running_pipeline(e2e_settings) as running:
        yield running


@pytest.fixture(scope="module")
def e2e_receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture(scope="module")
def tenant_base(e2e_settings: Settings, pipeline: Pipeline, e2e_receiver: Receiver) -> int:
    """Provisioned through `simulate --provision-only`: ORGS x EXTENSIONS, one request per type each."""
    base = free_tenant_base(e2e_settings.database_url, ORGS)
    result = simulator(e2e_settings, "--provision-only", "--receiver-url", e2e_receiver.url, "--api",
                       pipeline.api.url, "--tenant-base", str(base))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{ORGS} organizations, {ORGS * EXTENSIONS} extensions and {ORGS * EXTENSIONS * 5} requests" in result.stdout
    assert "HTTP Request:" not in result.stderr, result.stderr  # no log line per call under the progress bar
    # every extension's requests are in the processor's table before any event is sent
    pipeline.processor.wait_metric("callapi_processor_table_extensions", ORGS * EXTENSIONS)
    return base


def simulator(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "callapi_events", "simulate", "-n", str(ORGS), "-m", str(EXTENSIONS),
               "--seed", str(SEED), *args]
    return subprocess.run(command, env=settings_env(settings), capture_output=True, text=True, timeout=180,
                          check=False)


def test_a_seeded_simulation_reaches_the_receivers_of_each_extension(
    e2e_settings: Settings, e2e_receiver: Receiver, tenant_base: int,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    result = simulator(e2e_settings, "--count", str(COUNT), "--rate", "400", "--start", start.isoformat(),
                       "--tenant-base", str(tenant_base))
    assert result.returncode == 0, result.stdout + result.stderr
    plan = Plan(seed=SEED, organizations=ORGS, extensions=EXTENSIONS, rate_eps=400, tenant_base=tenant_base)
    expected = Counter(
        (f"/{extended_form(e.extension)}/{e.type.slug}", tuple(sorted(e.parameters.items())))
        for e in planned_events(plan, start=start, count=COUNT)
    )
    received = e2e_receiver.wait_for(COUNT, timeout_s=120)
    got = Counter((r.path, tuple(sorted(r.params.items()))) for r in received)
    assert got == expected
    methods = {r.path.rsplit("/", 1)[1]: r.method for r in received}
    assert methods == {"dial-in": "GET", "dial-out": "POST", "hangup": "GET", "answer-in": "POST",
                       "answer-out": "GET"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_event_ingested_in_voipnow_form_arrives_with_the_same_nine_parameters(
    e2e_settings: Settings, e2e_receiver: Receiver, tenant_base: int, method: str,
) -> None:
    code = f"{tenant_base:04d}"
    with psycopg.connect(e2e_settings.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM accounts WHERE code = %s", (code,)).fetchone()
        assert row is not None
        token = insert_token(conn, row[0])
    nine = {"CallID": f"1795773600.{method}", "CallerIDNum": "+61299990000", "CallerIDName": "Ingest Test",
            "CalledDID": "+61280001234", "CalledExtension": f"{code}202", "CallStatus": "CALLING", "CallFlow": "IN",
            "CallerExtension": "", "CalledNumber": "+61280001234"}
    with Service(e2e_settings, "ingest") as ingest:
        url = ingest.url
        sent = {"params": nine} if method == "GET" else {"data": nine}
        response = httpx.request(method, f"{url}/ingest/{code}/dial-in", headers={"Authorization": f"Bearer {token}"},
                                 timeout=30, **sent)  # type: ignore[arg-type]
        assert response.status_code == 202, response.text
    arrived = eventually(lambda: [r for r in e2e_receiver.received(f"/{code}202/dial-in")
                                  if r.params.get("CallID") == nine["CallID"]], timeout_s=60)
    assert len(arrived) == 1
    assert arrived[0].params == nine
