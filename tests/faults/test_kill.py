"""SIGKILL the processor and the delivery worker repeatedly under load: nothing owed is lost."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from producers.simulator.generator import Plan
from schemas.settings import Settings
from tests.faults.harness import free_tenant_base, receiver_url_for, running, settle, simulator, where_lost
from tests.faults.report import record
from tests.receiver import Receiver
from tests.services import Service

pytestmark = pytest.mark.faults

KILLS = 5
RATE_EPS, COUNT = 30.0, 1800


NO_MATCH = 'callapi_processor_events_total{result="no_match"}'


def kill_repeatedly(service: Service, kills: int, rng: random.Random, no_match: list[float | None]) -> None:
    """Wait until the component is ready, let it work a moment, SIGKILL it, start it again."""
    for _ in range(kills):
        service.wait_ready(120)
        time.sleep(rng.uniform(0.5, 2.5))
        no_match.append(service.sample(NO_MATCH))
        service.kill()
        service.start()
    service.wait_ready(120)


def test_repeated_sigkill_of_processor_and_worker_loses_nothing(
    make_settings: Callable[..., Settings], receiver: Receiver,
) -> None:
    settings = make_settings()
    plan = Plan(seed=81, organizations=2, extensions=5, rate_eps=RATE_EPS,
                tenant_base=free_tenant_base(settings.database_url, 2))
    with running(settings, plan, receiver_url_for(receiver.url), name="faults-kill") as pipeline:
        load = simulator(settings, plan, count=COUNT, rate_eps=RATE_EPS).start()
        no_match: list[float | None] = []  # events the processor found no request for (0 in this world)
        with ThreadPoolExecutor(2) as pool:
            killers = [pool.submit(kill_repeatedly, service, KILLS, random.Random(seed), no_match)
                       for seed, service in enumerate((pipeline.processor, pipeline.deliverer))]
            for killer in killers:
                killer.result()
        assert load.process is not None and load.process.wait(240) == 0, load.log()[-2000:]
        outcome = settle(settings, pipeline.world, lambda: [r.headers["webhook-id"] for r in receiver.received()])
        diagnosis = where_lost(settings, pipeline.world, outcome.report.lost)
        joined = pipeline.processor.metric('callapi_processor_events_total')
        no_match.append(pipeline.processor.sample(NO_MATCH))
        diagnosis += (f"; processor events {joined}; processor killed at {pipeline.processor.kill_times}; "
                      f"no_match before each kill {no_match}")
    kills = f"processor killed {pipeline.processor.kills}x, delivery worker {pipeline.deliverer.kills}x"
    record("sigkill", outcome.report, events=outcome.events, notes=kills)
    assert (pipeline.processor.kills, pipeline.deliverer.kills) == (KILLS, KILLS)
    assert outcome.events > 0 and outcome.report.expected > outcome.events  # the join fanned out
    assert outcome.report.ok, outcome.report.summary() + "; " + diagnosis
