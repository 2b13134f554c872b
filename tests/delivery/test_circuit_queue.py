"""Jobs queued behind a destination's concurrency cap when its circuit opens take the retry path without spending
an attempt, as jobs that meet the open circuit on arrival do (a real worker, real Kafka, a real receiver)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from schemas.ops import free_port
from schemas.settings import Settings
from tests.delivery.jobs import make_job, produce_jobs
from tests.polling import eventually
from tests.processes import Component
from tests.receiver import Receiver

OPS_PORT = free_port()
THRESHOLD = 2


@pytest.fixture(scope="module")
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # One request at a time per host, so the jobs queue; the circuit stays open for the whole test (no probe).
    return make_settings(max_per_host=1, circuit_failure_threshold=THRESHOLD, circuit_open_s=600.0)


@pytest.fixture(scope="module", autouse=True)
def worker(settings: Settings) -> Iterator[Component]:
    with Component(settings, "deliver", "--port", str(OPS_PORT), name="delivery-circuit-queue") as component:
        yield component
    assert "Traceback" not in component.log(), component.log()


def _counted() -> tuple[float, float] | None:
    """(attempts made, jobs deferred for an open circuit), or None while the ops endpoint is not up."""
    try:
        metrics = httpx.get(f"http://127.0.0.1:{OPS_PORT}/metrics").text
    except httpx.ConnectError:
        return None
    attempts = sum(float(v) for v in re.findall(r"^callapi_delivery_attempts_total\{[^}]*\} (\S+)$", metrics, re.M))
    [deferred] = re.findall(r'^callapi_delivery_deferred_total\{reason="circuit_open"\} (\S+)$', metrics, re.M)
    return attempts, float(deferred)


async def test_jobs_queued_for_a_host_whose_circuit_opens_are_deferred_not_sent(receiver: Receiver,
                                                                               settings: Settings) -> None:
    receiver.script("/down", then=503, delay_s=0.2)
    jobs = [make_job(receiver.url + "/down", request_id="queued") for _ in range(10)]  # one extension: one partition
    await produce_jobs(settings, jobs)
    counted = eventually(lambda: (c := _counted()) is not None and c[0] >= THRESHOLD and sum(c) >= len(jobs) and c,
                         timeout_s=60)
    assert counted and counted[0] == THRESHOLD, counted  # only the requests that opened the circuit went out
    assert len(receiver.received("/down")) == THRESHOLD
