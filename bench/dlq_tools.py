"""The dead-letter tools on a large DLQ: time and peak memory of `dlq list --json`, `dlq list` (the table of the
oldest rows, every match counted) and `dlq redrive`, each a real `callapi-events` process over `letters` dead
letters. Run at two sizes, the memory figures say whether a DLQ is held whole (memory grows with the letters) or
read as it goes (it does not). `python -m bench.dlq_tools` prints the result.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.pipeline import bench_settings, component_env, fresh_topics, publish, read_records
from bench.tenants import bench_organization
from control.service import add_request, admin
from control.service.admin import Account
from schemas.codec import encode
from schemas.jobs import DeliveryJob, job_id_for
from schemas.settings import Settings

PARAMS = {"CallID": "1732701600.42", "CallerIDNum": "+61299990000", "CallerIDName": "ACME Pty",
          "CalledDID": "+61280001234", "CalledExtension": "0003*210", "CallStatus": "CALLING", "CallFlow": "IN",
          "CallerExtension": "", "CalledNumber": "+61280001234"}


URL = "http://127.0.0.1:9/callapi"  # nothing listens: redrive only puts the jobs back on `deliveries`
EXTENSIONS = 997  # so on every partition


def dead_jobs(count: int, requests: list[tuple[str, str]], tenant: str) -> Iterator[tuple[bytes, bytes]]:
    """Jobs that gave up after the whole schedule, over the (extension, Request ID) pairs stored in PostgreSQL (a
    redrive sends each to its request as it is now, and holds back a job whose request is gone)."""
    now = datetime.now(UTC)
    for i in range(count):
        event_id = f"bench-{uuid.uuid4().hex}"
        extension, request_id = requests[i % len(requests)]
        job = DeliveryJob(job_id=job_id_for(event_id, request_id), event_id=event_id, event_type="dial-in",
                          tenant=tenant, extension=extension, request_id=request_id, method="POST", url=URL,
                          params=PARAMS, sequence=i, occurred_at=now, processed_at=now, attempt=8,
                          last_error="HTTP 503 (gave up after 8 attempts)")
        yield extension.encode(), encode(job)


def _stored_requests(conn: psycopg.Connection[Any], settings: Settings, org: Account) -> list[tuple[str, str]]:
    """A dial-in POST request on each of EXTENSIONS extensions of `org`: (extension, Request ID)."""
    made = admin.create_extensions(conn, org.id, [str(n) for n in range(1, EXTENSIONS + 1)])
    return [(extension.number, add_request(conn, settings, extension, {"type": 0, "method": 1, "url": URL}).request.id)
            for extension, _ in made]


def _measured(settings: Settings, *args: str) -> dict[str, Any]:
    """One `callapi-events` command run to its end: wall time and the peak resident memory of its process.

    The peak is the kernel's high-water mark of the program (VmHWM), read every 20 ms until it exits; not the
    child's ru_maxrss, which also counts the pages of this process it was forked from."""
    began, peak_kb = time.monotonic(), 0
    with tempfile.TemporaryFile() as errors:  # not a pipe: a chatty command would block on a full one
        command = subprocess.Popen([sys.executable, "-m", "callapi_events", *args], env=component_env(settings),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        while command.poll() is None:
            peak_kb = max(peak_kb, _high_water_kb(command.pid))
            time.sleep(0.02)
        if command.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"`callapi-events {' '.join(args)}` failed: {errors.read().decode()}")
    return {"s": round(time.monotonic() - began, 2), "peak_rss_mb": round(peak_kb / 1024, 1)}


def _high_water_kb(pid: int) -> int:
    try:
        match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except (FileNotFoundError, ProcessLookupError):  # it has just exited
        return 0
    return int(match.group(1)) if match else 0


def _round(base: Settings, letters: int) -> dict[str, Any]:
    settings = bench_settings(base)
    with psycopg.connect(settings.database_url, autocommit=True) as conn, fresh_topics(settings), \
            bench_organization(conn, "dlq tools bench") as org:
        try:
            jobs = dead_jobs(letters, _stored_requests(conn, settings, org), org.code or "")
            asyncio.run(publish(settings, settings.topics.deliveries_dlq, jobs))
            commands = {"list_json": ("dlq", "list", "--json"), "list_table": ("dlq", "list"),
                        "redrive": ("dlq", "redrive", "--tenant", org.code or "")}
            measured = {name: _measured(settings, *args) for name, args in commands.items()}
            asyncio.run(read_records(settings, settings.topics.deliveries, letters, timeout_s=60))  # all redriven
        finally:
            conn.execute("DELETE FROM dlq_redrives WHERE topic = %s", (settings.topics.deliveries_dlq,))
    return {"letters": letters,
            **{name: {**m, "letters_per_s": round(letters / m["s"])} for name, m in measured.items()}}


def run(settings: Settings, *, sizes: tuple[int, ...]) -> dict[str, Any]:
    """Each tool at each size."""
    return {"sizes": [_round(settings, letters) for letters in sizes]}


if __name__ == "__main__":
    print(json.dumps(run(Settings(), sizes=(20_000, 100_000)), indent=2))
