"""Misbehaving endpoints under load: one fails with 500 for a while, one hangs past the request timeout,
one resets connections. Healthy endpoints get every job; the others' jobs are delivered or dead-lettered."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from producers.simulator.generator import Plan
from producers.simulator.population import SimExtension
from schemas.events import EventType
from schemas.settings import Settings
from tests.faults.harness import free_tenant_base, produced_events, running, settle, simulator, where_lost
from tests.faults.invariants import expected_job_ids
from tests.faults.report import record
from tests.faults.servers import FlakyServer, HangServer, ResetServer
from tests.receiver import Receiver

pytestmark = pytest.mark.faults

RATE_EPS, COUNT = 40.0, 800


@pytest.fixture(scope="module")
def endpoint_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(retry_schedule=(1.0, 2.0, 4.0), request_timeout_s=2, connect_timeout_s=1, circuit_open_s=3)


def test_failing_hanging_and_resetting_endpoints_lose_nothing(endpoint_settings: Settings, receiver: Receiver) -> None:
    settings = endpoint_settings
    plan = Plan(seed=84, organizations=2, extensions=6, rate_eps=RATE_EPS,
                tenant_base=free_tenant_base(settings.database_url, 2))
    with FlakyServer(fail_for_s=8) as flaky, HangServer() as hang, ResetServer() as reset:
        bad = dict(zip([e.number for e in plan.population().extensions][-3:], (flaky, hang, reset), strict=True))

        def url_for(extension: SimExtension, event_type: EventType, role: str) -> str:
            base = bad[extension.number].url if extension.number in bad else receiver.url
            return f"{base}/{extension.extended}/{event_type.slug}/{role}"

        with running(settings, plan, url_for, name="faults-endpoints") as pipeline:
            load = simulator(settings, plan, count=COUNT, rate_eps=RATE_EPS).start()
            assert load.process is not None and load.process.wait(180) == 0, load.log()[-2000:]

            def received() -> list[str]:
                return [r.headers["webhook-id"] for r in receiver.received()] + list(flaky.delivered)

            outcome = settle(settings, pipeline.world, received)
            diagnosis = where_lost(settings, pipeline.world, outcome.report.lost)
    healthy_config = {ext: reqs for ext, reqs in pipeline.world.config.items() if ext not in bad}
    healthy_owed = expected_job_ids(produced_events(settings), healthy_config)
    healthy_missing = healthy_owed - {r.headers["webhook-id"] for r in receiver.received()}
    notes = (f"500-then-204 endpoint: {len(flaky.delivered)} delivered after {flaky.refused} refusals; hanging: "
             f"{hang.refused} requests; resetting: {reset.refused} connections")
    record("endpoints", outcome.report, events=outcome.events, notes=notes)
    assert outcome.report.ok, outcome.report.summary() + "; " + diagnosis
    assert not healthy_missing, f"{len(healthy_missing)} jobs of healthy endpoints not delivered"
    assert flaky.refused and hang.refused and reset.refused  # each fault was actually hit
    assert outcome.report.dead_lettered > 0  # the hanging and resetting endpoints' jobs end there
