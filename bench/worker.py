"""Single-worker delivery throughput: DeliveryJobs on `deliveries` → one `callapi-events deliver` → nginx.

The jobs are produced first (a backlog), then one worker process drains them; the rate is measured between
the first and the last attempt's `attempted_at`, so start-up and group join are not counted. The worker's
CPU time over the same window gives its CPU cost per job, the figure to compare with a bare client loop's CPU
cost per request; the cores its event loop, the broker, nginx and the machine used say what bound the rate,
and the attempts' own durations how long one request took inside the worker.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from bench import cpu
from bench.cpu import CpuSampler
from bench.pipeline import bench_settings, publish, read_records
from deploy.topics import create_topics, delete_topics
from schemas.attempts import DeliveryAttempt
from schemas.codec import decode, encode
from schemas.jobs import DeliveryJob, job_id_for
from schemas.settings import Settings

PARAMS = {"CallID": "1732701600.42", "CallerIDNum": "+61299990000", "CallerIDName": "ACME Pty",
          "CalledDID": "+61280001234", "CalledExtension": "0003*210", "CallStatus": "CALLING", "CallFlow": "IN",
          "CallerExtension": "", "CalledNumber": "+61280001234"}


def notification(url: str, *, number: int = 0, extension: str = "0003*210") -> DeliveryJob:
    event_id = f"bench-{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    return DeliveryJob(job_id=job_id_for(event_id, "bench"), event_id=event_id, event_type="dial-in",
                       tenant=extension.split("*")[0], extension=extension, request_id="bench", method="POST",
                       url=url, params=PARAMS, sequence=number, occurred_at=now, processed_at=now)


async def publish_backlog(settings: Settings, url: str, jobs: int) -> None:
    """`jobs` DeliveryJobs to `url` on `deliveries`, spread over 997 extensions (so over every partition)."""
    records = (notification(url, number=i, extension=f"0003*{i % 997}") for i in range(jobs))
    await publish(settings, settings.topics.deliveries, ((job.extension.encode(), encode(job)) for job in records))


async def _attempts(settings: Settings, jobs: int, timeout_s: float) -> list[DeliveryAttempt]:
    attempts = []
    for record in await read_records(settings, settings.topics.delivery_attempts, jobs, timeout_s):
        attempt = decode(DeliveryAttempt, record.value or b"")
        if attempt.outcome.value != "delivered":
            raise RuntimeError(f"an attempt was not delivered: {attempt}")
        attempts.append(attempt)
    return attempts


async def bench_worker(url: str, *, jobs: int, receiver_pid: int, partitions: int = 12) -> dict[str, Any]:
    """One worker draining `jobs` to `url`; with the cores it, its event loop, the brokers, the receiver
    (process `receiver_pid` and its children) and the whole machine used meanwhile."""
    settings = bench_settings(Settings(), partitions=partitions)
    specs = settings.topic_specs()
    await create_topics(settings.kafka_bootstrap, specs)
    try:
        await publish_backlog(settings, url, jobs)
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callapi_events", "deliver", "--port", "0",
            env={**settings.environment(os.environ), "CALLAPI_LOG_LEVEL": "WARNING"},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        sampler = CpuSampler({
            "worker": cpu.process(worker.pid), "worker_event_loop_thread": cpu.main_thread(worker.pid),
            "kafka_broker": cpu.processes_running("kafka.Kafka"), "nginx": cpu.process_tree(receiver_pid),
            "machine_busy": cpu.machine,
        })
        try:
            async with sampler:
                attempts = await _attempts(settings, jobs, timeout_s=max(120.0, jobs / 200))
                await asyncio.sleep(0.1)  # one more sample after the last attempt
        finally:
            worker.terminate()
            await asyncio.wait_for(worker.wait(), 30)
    finally:
        await delete_topics(settings.kafka_bootstrap, [s.name for s in specs])
    first = min(a.attempted_at for a in attempts).timestamp()
    last = max(a.attempted_at for a in attempts).timestamp()
    span_s = last - first
    _, used_s = sampler.seconds(first, last)
    durations_ms = sorted(a.duration_ms for a in attempts)
    return {"jobs": jobs, "partitions": partitions, "span_s": round(span_s, 2),
            "jobs_per_s": round((jobs - 1) / span_s), "worker_cpu_s": round(used_s["worker"], 2),
            "worker_cpu_us_per_job": round(1e6 * used_s["worker"] / (jobs - 1), 1),
            "cores": {**sampler.cores(first, last), "machine_cores": os.cpu_count()},
            "request_ms_mean": round(statistics.fmean(durations_ms), 2),
            "request_ms_p50": round(durations_ms[len(durations_ms) // 2], 2)}
