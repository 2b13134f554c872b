"""Single-worker delivery throughput: DeliveryJobs on `deliveries` → one `callapi-events deliver` → nginx.

The jobs are produced first (a backlog), then one worker process drains them; the rate is measured between
the first and the last attempt's `attempted_at`, so start-up and group join are not counted. The worker's
CPU time over the same window (sampled from /proc every 50 ms, rounded outwards) gives its CPU cost per job,
the figure to compare with a bare client loop's CPU cost per request.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


async def _attempt_times(settings: Settings, jobs: int, timeout_s: float) -> list[datetime]:
    times = []
    for record in await read_records(settings, settings.topics.delivery_attempts, jobs, timeout_s):
        attempt = decode(DeliveryAttempt, record.value or b"")
        if attempt.outcome.value != "delivered":
            raise RuntimeError(f"an attempt was not delivered: {attempt}")
        times.append(attempt.attempted_at)
    return times


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _sample_cpu(pid: int, samples: list[tuple[float, float]]) -> None:
    while True:
        samples.append((time.time(), _cpu_s(pid)))
        await asyncio.sleep(0.05)


def _cpu_between(samples: list[tuple[float, float]], start_s: float, end_s: float) -> float:
    """CPU seconds used from the last sample before `start_s` to the first sample after `end_s`."""
    before = [cpu for at_s, cpu in samples if at_s <= start_s] or [samples[0][1]]
    after = [cpu for at_s, cpu in samples if at_s >= end_s] or [samples[-1][1]]
    return after[0] - before[-1]


async def bench_worker(url: str, *, jobs: int, partitions: int = 12) -> dict[str, Any]:
    settings = bench_settings(Settings(), partitions=partitions)
    specs = settings.topic_specs()
    await create_topics(settings.kafka_bootstrap, specs)
    try:
        records = (notification(url, number=i, extension=f"0003*{i % 997}") for i in range(jobs))
        await publish(settings, settings.topics.deliveries, ((job.extension.encode(), encode(job)) for job in records))
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callapi_events", "deliver", "--port", "0",
            env={**settings.environment(os.environ), "CALLAPI_LOG_LEVEL": "WARNING"},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        samples: list[tuple[float, float]] = []
        sampler = asyncio.create_task(_sample_cpu(worker.pid, samples))
        try:
            times = await _attempt_times(settings, jobs, timeout_s=max(120.0, jobs / 200))
            await asyncio.sleep(0.1)  # one more sample after the last attempt
        finally:
            sampler.cancel()
            worker.terminate()
            await asyncio.wait_for(worker.wait(), 30)
    finally:
        await delete_topics(settings.kafka_bootstrap, [s.name for s in specs])
    first, last = min(times), max(times)
    span_s = (last - first).total_seconds()
    cpu_s = _cpu_between(samples, first.timestamp(), last.timestamp())
    return {"jobs": jobs, "partitions": partitions, "span_s": round(span_s, 2),
            "jobs_per_s": round((jobs - 1) / span_s), "worker_cpu_s": round(cpu_s, 2),
            "worker_cpu_us_per_job": round(1e6 * cpu_s / (jobs - 1), 1)}
