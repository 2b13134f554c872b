"""The Kafka broker frozen under load (SIGSTOP, then SIGCONT): a long GC pause or a network partition, where
connections stay open and nothing answers. A dedicated broker in a temporary folder runs the whole pipeline.

The freeze outlasts the consumers' session timeout (10 s: the processor's `processor_session_timeout_s`,
aiokafka's default for the delivery worker) and the producers' request timeouts (aiokafka's 40 s default in
the delivery worker and the processor's sink, 15 s in the simulator, 10 s in the relay): requests time out
and connections are dropped, and after the thaw the broker may expire the groups' members (they rejoin) and
fence itself for a moment (leaders and the group coordinator move). Which of these happens varies from run to
run; the report line says whether the groups rejoined. A component may exit when it cannot go on; the test
restarts it as a supervisor would, and counts it. One that stays alive without recovering loses events: the
invariant catches it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from deploy.local.kafka import Kafka
from producers.simulator.generator import Plan
from schemas.settings import Settings
from tests.conftest import new_settings
from tests.faults.harness import (
    Supervisor,
    free_tenant_base,
    frozen,
    group_joins,
    receiver_url_for,
    running,
    settle,
    simulator,
    where_lost,
)
from tests.faults.report import record
from tests.receiver import Receiver
from tests.services import Service, wait_until

pytestmark = pytest.mark.faults

RATE_EPS, COUNT, FROZEN_S = 40.0, 2200, 45.0  # the load outlasts the freeze by a few seconds


def tracebacks(services: Sequence[Service]) -> str:
    found = [f"{s.command} {n}" for s in services if (n := s.component.log().count("Traceback"))]
    return ", ".join(found) or "none"


def test_a_broker_frozen_under_load_loses_nothing(
    base_settings: Settings, database_url: str, dedicated_kafka: Kafka, receiver: Receiver,
) -> None:
    settings = new_settings(base_settings, database_url, kafka_bootstrap=f"127.0.0.1:{dedicated_kafka.port}")
    plan = Plan(seed=83, organizations=2, extensions=5, rate_eps=RATE_EPS,
                tenant_base=free_tenant_base(database_url, 2))
    broker_pid = dedicated_kafka.service.pid()
    assert broker_pid is not None
    with running(settings, plan, receiver_url_for(receiver.url), name="faults-frozen") as pipeline:
        consumers = (pipeline.processor, pipeline.deliverer)
        load = simulator(settings, plan, count=COUNT, rate_eps=RATE_EPS).start()
        wait_until(lambda: len(receiver.received()) >= 100, timeout_s=60, what="load flowing")
        with Supervisor(pipeline.api, *consumers) as supervisor:
            joined = [group_joins(s) for s in consumers]
            before = len(receiver.received())
            with frozen(broker_pid):
                time.sleep(FROZEN_S)
            during = len(receiver.received()) - before
            assert load.process is not None
            simulated = load.process.wait(240)  # 1 when some sends were not acknowledged: those are not owed
            outcome = settle(settings, pipeline.world,
                             lambda: [r.headers["webhook-id"] for r in receiver.received()], timeout_s=150)
            diagnosis = where_lost(settings, pipeline.world, outcome.report.lost)
        rejoined = ", ".join(f"{s.command} {group_joins(s) - n}" for s, n in zip(consumers, joined, strict=True))
        restarts = "; ".join(supervisor.exits) or "none"  # a component that exited was started again
        notes = (f"{during} delivered while frozen; simulator exit {simulated}; groups rejoined: {rejoined}; "
                 f"restarts: {restarts}; tracebacks: {tracebacks((pipeline.api, *consumers))}")
    record(f"kafka frozen {FROZEN_S:.0f} s", outcome.report, events=outcome.events, notes=notes)
    assert simulated in (0, 1), load.log()[-2000:]
    assert outcome.report.ok, f"{outcome.report.summary()}; {notes}; {diagnosis}"
