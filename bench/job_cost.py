"""What one delivery job costs the worker's event loop besides its HTTP request (`python -m bench.job_cost`).

Three measurements, on the running Kafka:
- the job's own steps, each timed alone: validating the DeliveryJob, building and signing the request, the
  retry decision, the attempt record, the metrics;
- the Kafka client: consuming a job record and producing one attempt-sized record for it (batched, as the
  worker does), waiting for every acknowledgement;
- the whole worker (consumer, offsets, host cap, circuit, publishing, asyncio tasks) in this process with an
  HTTP client that answers 204 at once: its jobs/s and the event loop's CPU per job.
The last figure is the worker's cost per job without HTTP: the floor under its rate on one core.
Writes bench/results/job_cost.json.
"""

from __future__ import annotations

import asyncio
import json
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.pipeline import bench_settings, fresh_topics
from bench.worker import notification, publish_backlog
from delivery.http import HttpResponse
from delivery.metrics import DeliveryMetrics
from delivery.policy import AttemptResult, Decision, decide
from delivery.records import attempt_record
from delivery.request import OutgoingRequest, build_request
from delivery.worker import new_consumer, new_producer, run_worker
from schemas.attempts import Outcome
from schemas.codec import decode, encode
from schemas.collector import DELIVERY_YOUNG_THRESHOLD, collect_less_often
from schemas.jobs import DeliveryJob
from schemas.publisher import RecordPublisher
from schemas.settings import Settings

RESULTS = Path(__file__).parent / "results" / "job_cost.json"
JOBS = 60_000
ROUNDS = 3  # the machine is shared: the median of several rounds
WARM_UP_JOBS = 2_000
URL = "http://127.0.0.1:9/hook"  # never connected to: the client below answers at once
ATTEMPT_SIZED = b"a" * 300


class InstantClient:
    async def send(self, request: OutgoingRequest) -> HttpResponse:
        return HttpResponse(204, None)

    async def close(self) -> None:
        return None


def _us_per_call(step: Callable[[], object], calls: int = 20_000) -> float:
    step()
    return round(timeit.timeit(step, number=calls) / calls * 1e6, 2)


def job_steps(settings: Settings) -> dict[str, float]:
    job = notification(URL)
    raw, now, delivered = encode(job), datetime.now(UTC), AttemptResult(status_code=204)

    def decide_delivered() -> Decision:
        return decide(delivered, attempts_made=1, now=now, schedule=settings.retry_schedule,
                      jitter=settings.retry_jitter, rand=0.5)

    decision = decide_delivered()
    metrics = DeliveryMetrics(registry=CollectorRegistry())

    def count_one() -> None:
        metrics.attempted(Outcome.DELIVERED)
        metrics.end_to_end.observe(0.1)
        metrics.attempt_duration.observe(0.001)

    return {
        "validate_job": _us_per_call(lambda: decode(DeliveryJob, raw)),
        "build_and_sign_request": _us_per_call(lambda: build_request(job, now_s=int(time.time()), user_agent="x")),
        "decide": _us_per_call(decide_delivered),
        "attempt_record": _us_per_call(
            lambda: encode(attempt_record(job, decision, delivered, duration_ms=1.0, attempted_at=now))),
        "metrics": _us_per_call(count_one),
    }


async def kafka_client(settings: Settings, jobs: int) -> dict[str, float]:
    """Consume every job record and publish a 300-byte record for each; CPU per record (the whole process)."""
    await publish_backlog(settings, URL, jobs)
    consumer, producer = new_consumer(settings), new_producer(settings)  # configured as the worker's
    consumer.subscribe([settings.topics.deliveries])
    await consumer.start()
    await producer.start()
    try:
        publisher, acks = RecordPublisher(producer), list[asyncio.Future[None]]()
        started_s = started_cpu_s = 0.0
        while len(acks) < jobs:
            batch = await consumer.getmany(timeout_ms=200)
            if batch and not acks:
                started_s, started_cpu_s = time.perf_counter(), time.process_time()
            for records in batch.values():
                acks += [publisher.publish(settings.topics.delivery_attempts, r.key, ATTEMPT_SIZED) for r in records]
        for ack in acks:
            await ack
        elapsed_s, cpu_s = time.perf_counter() - started_s, time.process_time() - started_cpu_s
    finally:
        await consumer.stop()
        await producer.stop()
    return {"records_per_s": round(jobs / elapsed_s), "cpu_us_per_record": round(1e6 * cpu_s / jobs, 1)}


class CountedMetrics(DeliveryMetrics):
    """The worker's metrics, also counting attempts and saying when the `marks`-th one is made."""

    def __init__(self, *marks: int) -> None:
        super().__init__(registry=CollectorRegistry())
        self.count = 0
        self.reached = {mark: asyncio.Event() for mark in marks}

    def attempted(self, outcome: Outcome) -> None:
        super().attempted(outcome)
        self.count += 1
        if self.count in self.reached:
            self.reached[self.count].set()


async def worker_without_http(settings: Settings, jobs: int) -> dict[str, float]:
    """The worker in this process, with the instant client; measured after the first WARM_UP_JOBS."""
    await publish_backlog(settings, URL, jobs)
    metrics = CountedMetrics(WARM_UP_JOBS, jobs)
    collect_less_often(DELIVERY_YOUNG_THRESHOLD)
    worker = asyncio.create_task(run_worker(settings, host="127.0.0.1", port=0, metrics=metrics,
                                            client=InstantClient()))
    try:
        await metrics.reached[WARM_UP_JOBS].wait()
        started_s, started_cpu_s = time.perf_counter(), time.thread_time()
        await metrics.reached[jobs].wait()
        elapsed_s, cpu_s = time.perf_counter() - started_s, time.thread_time() - started_cpu_s
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    measured = jobs - WARM_UP_JOBS
    return {"jobs_per_s": round(measured / elapsed_s), "event_loop_cpu_us_per_job": round(1e6 * cpu_s / measured, 1)}


def run(base: Settings, *, jobs: int = JOBS, rounds: int = ROUNDS) -> dict[str, Any]:
    """Each Kafka measurement `rounds` times on fresh topics; the round with the median CPU, and every round's."""
    import uvloop  # as `callapi-events deliver` runs

    results: dict[str, Any] = {"job_steps_us": job_steps(base)}
    measures = (("kafka_client", kafka_client, "cpu_us_per_record"),
                ("worker_without_http", worker_without_http, "event_loop_cpu_us_per_job"))
    for name, measure, cost in measures:
        runs = []
        for _ in range(rounds):
            with fresh_topics(bench_settings(base)) as settings:
                runs.append(uvloop.run(measure(settings, jobs)))
        ranked = sorted(runs, key=lambda result: result[cost])
        results[name] = {**ranked[len(ranked) // 2], f"{cost}_rounds": [result[cost] for result in runs]}
    return results


def main() -> None:
    results = run(Settings())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
