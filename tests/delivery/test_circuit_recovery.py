"""Open circuits with a real worker, real Kafka and real receivers: jobs wait without spending attempts.

The circuit opens after 3 failures and stays open 5 s, longer than the whole (1 s, 2 s) retry schedule: jobs
refused meanwhile must still reach an endpoint that recovers, and still end on deliveries.dlq for one that
never does.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator

import httpx
import pytest

from delivery.hosts import destination_key
from schemas.attempts import Outcome
from schemas.settings import Settings
from tests.delivery.helpers import attempts_of, dead_letters
from tests.delivery.jobs import make_job, produce_jobs
from tests.polling import eventually
from tests.processes import Component
from tests.receiver import Receiver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


OPS_PORT = _free_port()


@pytest.fixture(scope="module")
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(circuit_failure_threshold=3, circuit_open_s=5.0, retry_schedule=(1.0, 2.0),
                         request_timeout_s=3.0, connect_timeout_s=1.0)


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[Component]:
    with Component(settings, "deliver", "--port", str(OPS_PORT), name="delivery-circuit") as component:
        yield component
    assert "Traceback" not in component.log(), component.log()


def _circuit_deferrals() -> float:
    metrics = httpx.get(f"http://127.0.0.1:{OPS_PORT}/metrics").text
    found = re.search(r'^callapi_delivery_deferred_total\{reason="circuit_open"\} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def _logged(worker: Component, line: str) -> bool:
    return line in worker.log()


async def test_jobs_refused_by_an_open_circuit_are_delivered_once_it_closes(
    settings: Settings, worker: Component, receiver: Receiver,
) -> None:
    key = destination_key(receiver.url)
    receiver.script("/flap", statuses=[500, 500, 500], then=204)
    first = [make_job(receiver.url + "/flap", request_id="flap", extension=f"0007*{n}") for n in range(3)]
    await produce_jobs(settings, first)
    opened = f"circuit for {key} opened after 3 consecutive failures (last: HTTP 500)"
    assert eventually(lambda: _logged(worker, opened)), worker.log()

    deferred_before = _circuit_deferrals()
    later = [make_job(receiver.url + "/flap", request_id="flap", extension=f"0008*{n}") for n in range(6)]
    await produce_jobs(settings, later)
    requests = receiver.wait_for(3 + len(first) + len(later), path="/flap", timeout_s=60)

    assert {r.headers["webhook-id"] for r in requests[3:]} == {j.job_id for j in first + later}
    assert _circuit_deferrals() > deferred_before  # the later jobs did meet the open circuit
    assert _logged(worker, f"circuit for {key} closed: a request succeeded (HTTP 204)")
    for job in later:  # one real attempt each: waiting for the circuit spent none
        attempts = await attempts_of(settings, job.job_id, count=1)
        assert [(a.attempt, a.outcome) for a in attempts] == [(1, Outcome.DELIVERED)]
    for job in first:
        attempts = await attempts_of(settings, job.job_id, count=2)
        assert [(a.attempt, a.outcome) for a in attempts] == [(1, Outcome.RETRY), (2, Outcome.DELIVERED)]
    assert await dead_letters(settings, {j.job_id for j in first + later}, timeout_s=0) == {}


async def test_a_dead_endpoint_s_jobs_end_on_the_dlq_after_the_schedule(
    settings: Settings, worker: Component, receiver: Receiver,
) -> None:
    key = destination_key(receiver.url)
    receiver.script("/dead", then=503)
    first = [make_job(receiver.url + "/dead", request_id="dead", extension=f"0009*{n}") for n in range(3)]
    await produce_jobs(settings, first)
    assert eventually(lambda: _logged(worker, f"circuit for {key} opened after 3 consecutive failures")), worker.log()
    later = [make_job(receiver.url + "/dead", request_id="dead", extension=f"0010*{n}") for n in range(6)]
    await produce_jobs(settings, later)

    letters = await dead_letters(settings, {j.job_id for j in first + later}, timeout_s=90)
    assert set(letters) == {j.job_id for j in first + later}
    stayed_open = f"circuit_open: {key} (the circuit stayed open; gave up after "
    for letter in letters.values():
        assert letter.attempt <= 3
        assert letter.last_error is not None
        assert letter.last_error == "HTTP 503 (gave up after 3 attempts)" or letter.last_error.startswith(
            stayed_open), letter.last_error
    never_tried = [j for j in later if letters[j.job_id].attempt == 0]
    assert never_tried, "every later job was a probe: the circuit did not refuse any"
    assert all(letters[j.job_id].last_error.endswith(", never tried)") for j in never_tried)  # type: ignore[union-attr]
    sent = {r.headers["webhook-id"] for r in receiver.received("/dead")}
    assert not sent & {j.job_id for j in never_tried}
