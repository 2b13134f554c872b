"""The Kafka broker restarted once under load. A dedicated broker in a temporary folder on free ports runs
this scenario's whole pipeline: the shared broker is never touched."""

from __future__ import annotations

import time

import pytest

from deploy.local.kafka import Kafka
from producers.simulator.generator import Plan
from schemas.settings import Settings
from tests.conftest import new_settings
from tests.faults.harness import free_tenant_base, receiver_url_for, running, settle, simulator, where_lost
from tests.faults.report import record
from tests.receiver import Receiver
from tests.services import wait_until

pytestmark = pytest.mark.faults

RATE_EPS, COUNT = 40.0, 1200


def test_a_broker_restart_under_load_loses_nothing(
    base_settings: Settings, database_url: str, dedicated_kafka: Kafka, receiver: Receiver,
) -> None:
    settings = new_settings(base_settings, database_url, kafka_bootstrap=f"127.0.0.1:{dedicated_kafka.port}")
    plan = Plan(seed=82, organizations=2, extensions=5, rate_eps=RATE_EPS,
                tenant_base=free_tenant_base(database_url, 2))
    with running(settings, plan, receiver_url_for(receiver.url), name="faults-broker") as pipeline:
        load = simulator(settings, plan, count=COUNT, rate_eps=RATE_EPS).start()
        wait_until(lambda: len(receiver.received()) >= 100, timeout_s=60, what="load flowing")
        began = time.monotonic()
        dedicated_kafka.down()
        dedicated_kafka.up()
        restart_s = time.monotonic() - began
        assert load.process is not None
        simulated = load.process.wait(240)  # 1 when some sends were not acknowledged: those are not owed
        outcome = settle(settings, pipeline.world, lambda: [r.headers["webhook-id"] for r in receiver.received()],
                         timeout_s=150)
        diagnosis = where_lost(settings, pipeline.world, outcome.report.lost)
    record("kafka restart", outcome.report, events=outcome.events,
           notes=f"broker down and up again in {restart_s:.1f} s; simulator exit {simulated}")
    assert simulated in (0, 1), load.log()[-2000:]
    assert outcome.report.ok, outcome.report.summary() + "; " + diagnosis
