"""A second processor replica joining and leaving again and again under load: nothing owed is lost.

Every join and every leave moves partitions between the replicas. Acknowledgements of events taken before a
rebalance arrive after it, records buffered before a seek are handed over after it, a replica that leaves
by SIGTERM commits what it finished, and one killed by SIGKILL leaves its partitions at their last commit
until its session times out. The processor's own offset books (processors.positions) must hold through all
of it: no commit may pass an event whose jobs are not on `deliveries`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from producers.simulator.generator import Plan
from schemas.settings import Settings
from tests.faults.harness import (
    free_tenant_base,
    group_joins,
    receiver_url_for,
    running,
    settle,
    simulator,
    where_lost,
)
from tests.faults.report import record
from tests.receiver import Receiver
from tests.services import Service

pytestmark = pytest.mark.faults

CYCLES = 6
RATE_EPS, COUNT = 30.0, 1800


def test_processor_replicas_joining_and_leaving_under_load_lose_nothing(
    make_settings: Callable[..., Settings], receiver: Receiver,
) -> None:
    settings = make_settings()
    plan = Plan(seed=85, organizations=2, extensions=5, rate_eps=RATE_EPS,
                tenant_base=free_tenant_base(settings.database_url, 2))
    rng = random.Random(85)
    with running(settings, plan, receiver_url_for(receiver.url), name="faults-rebalance") as pipeline:
        load = simulator(settings, plan, count=COUNT, rate_eps=RATE_EPS).start()
        joined_before = group_joins(pipeline.processor)
        second = Service(settings, "processor", name="faults-rebalance-second")
        try:
            for cycle in range(CYCLES):
                second.start().wait_ready(120)
                time.sleep(rng.uniform(1.0, 3.0))
                if cycle % 2:
                    second.kill()
                else:
                    assert second.stop() == 0, second.component.log()[-3000:]
                time.sleep(rng.uniform(0.5, 2.0))
        finally:
            second.stop()
        assert load.process is not None and load.process.wait(240) == 0, load.log()[-2000:]
        outcome = settle(settings, pipeline.world, lambda: [r.headers["webhook-id"] for r in receiver.received()])
        diagnosis = where_lost(settings, pipeline.world, outcome.report.lost)
        rejoined = group_joins(pipeline.processor) - joined_before
    notes = (f"a second processor joined {CYCLES}x and left by SIGTERM and SIGKILL in turn; "
             f"the first rejoined its group {rejoined}x")
    record("processor rebalances", outcome.report, events=outcome.events, notes=notes)
    assert rejoined >= CYCLES  # the partitions did move
    assert outcome.report.ok, f"{outcome.report.summary()}; {notes}; {diagnosis}"
