"""Benchmark: Python HTTP clients, and the real delivery worker, against a local nginx answering 204.

Every client sends the same form POST (the notification a worker sends, built by delivery.request) with
the same concurrency, after a warm-up, three rounds each; the median rate is reported. Then, optionally, the
real worker (`callapi-events deliver`, one process) drains DeliveryJobs from Kafka to the same nginx, five
times (one 2-second drain moves by up to a quarter on a shared machine), and its median rate is compared with
the fastest bare client loop of this run. `callapi-events bench` runs the same as its `delivery` benchmark.

    python -m bench.http_clients [--requests 5000] [--concurrency 64] [--worker-jobs 20000] [--no-worker]
                                 [--loop uvloop|asyncio]

Both sides run on the same event loop (uvloop by default, as `callapi-events deliver` does). Each result also
carries CPU microseconds per request (per job for the worker), for the whole process and for the event loop's
thread alone: the worker's Python work all runs on its loop's thread, while a client with its own I/O thread
(pyreqwest) may use a second core.

Writes bench/results/http_clients.json and (with the worker) bench/results/delivery.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.nginx import Nginx
from delivery.request import OutgoingRequest, build_request
from schemas.settings import Settings

RESULTS = Path(__file__).parent / "results"
SHIPPED: str = Settings.model_fields["http_client"].default
"""The worker's default client library."""
Send = Callable[[OutgoingRequest], Awaitable[int]]
ClientFactory = Callable[[int], Awaitable[tuple[Send, Callable[[], Awaitable[None]]]]]


async def _httpx(concurrency: int) -> tuple[Send, Callable[[], Awaitable[None]]]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.AsyncClient(limits=limits, timeout=10.0, follow_redirects=False)

    async def send(req: OutgoingRequest) -> int:
        response = await client.request(req.method, req.url, content=req.body, headers=req.headers)
        return response.status_code

    return send, client.aclose


async def _aiohttp(concurrency: int) -> tuple[Send, Callable[[], Awaitable[None]]]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                    timeout=aiohttp.ClientTimeout(total=10))

    async def send(req: OutgoingRequest) -> int:
        async with session.request(req.method, req.url, data=req.body, headers=req.headers,
                                   allow_redirects=False) as response:
            await response.read()
            return response.status

    return send, session.close


def _shipped(http_client: str) -> ClientFactory:
    """The worker's client, built by the same factory as the worker (delivery.http.new_client)."""

    async def factory(concurrency: int) -> tuple[Send, Callable[[], Awaitable[None]]]:
        from delivery.http import new_client

        settings = Settings(http_client=http_client, connect_timeout_s=3, request_timeout_s=10,
                            allow_private_urls=True, max_in_flight=concurrency)
        client = new_client(settings)

        async def send(req: OutgoingRequest) -> int:
            return (await client.send(req)).status_code

        return send, client.close

    return factory


async def _pyreqwest(concurrency: int) -> tuple[Send, Callable[[], Awaitable[None]]]:
    from datetime import timedelta

    from pyreqwest.client import ClientBuilder

    client = ClientBuilder().max_connections(concurrency).timeout(timedelta(seconds=10)).build()

    async def send(req: OutgoingRequest) -> int:
        response = await client.request(req.method, req.url).headers(req.headers).body_bytes(req.body).build().send()
        await response.bytes()
        return int(response.status)

    async def close() -> None:
        await client.close()

    return send, close


CANDIDATES: dict[str, ClientFactory] = {
    "httpx": _httpx,
    "aiohttp": _aiohttp,
    "pyreqwest": _pyreqwest,
    f"delivery.http ({SHIPPED}, shipped)": _shipped(SHIPPED),
    **{f"delivery.http ({name}, selectable)": _shipped(name) for name in ("pyreqwest", "aiohttp") if name != SHIPPED},
}


async def _loop(send: Send, req: OutgoingRequest, *, count: int, concurrency: int) -> float:
    """Requests per second of `count` requests from `concurrency` tasks."""
    remaining = count

    async def runner() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status = await send(req)
            if status != 204:
                raise RuntimeError(f"nginx answered {status}")

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def bench_client(name: str, factory: ClientFactory, req: OutgoingRequest, *, count: int,
                       concurrency: int, rounds: int = 3) -> dict[str, Any]:
    try:
        send, close = await factory(concurrency)
    except ImportError as error:
        return {"client": name, "error": f"not installed: {error}"}
    try:
        await _loop(send, req, count=min(500, count), concurrency=concurrency)  # warm-up: connections
        cpu_started_s = time.process_time()  # every thread of this process (a Rust client's I/O thread too)
        loop_cpu_started_s = time.thread_time()  # the event loop's thread only: what bounds a worker
        rates = [await _loop(send, req, count=count, concurrency=concurrency) for _ in range(rounds)]
        cpu_s = time.process_time() - cpu_started_s
        loop_cpu_s = time.thread_time() - loop_cpu_started_s
    finally:
        await close()
    return {"client": name, "requests_per_s": round(statistics.median(rates)), "rounds": [round(r) for r in rates],
            "cpu_us_per_request": round(1e6 * cpu_s / (rounds * count), 1),
            "loop_thread_cpu_us_per_request": round(1e6 * loop_cpu_s / (rounds * count), 1)}


def environment() -> dict[str, Any]:
    import os

    return {"at": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "receiver": "nginx returning 204, 1 worker",
            "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0]}


def write(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


async def measure(*, requests: int, concurrency: int, worker_jobs: int | None,
                  worker_rounds: int = 5) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the bare clients' results, the worker's against the fastest of them or None without `worker_jobs`)."""
    from bench.worker import bench_worker, notification

    with Nginx() as nginx:
        req = build_request(notification(nginx.url + "/hook"), now_s=int(time.time()), user_agent="callapi-bench")
        clients = []
        for name, factory in CANDIDATES.items():
            clients.append(await bench_client(name, factory, req, count=requests, concurrency=concurrency))
        summary = {"environment": environment(), "requests": requests, "concurrency": concurrency,
                   "request": {"method": req.method, "body_bytes": len(req.body), "headers": len(req.headers)},
                   "clients": clients}
        if worker_jobs is None:
            return summary, None
        runs = [await bench_worker(nginx.url + "/hook", jobs=worker_jobs, receiver_pid=nginx.pid)
                for _ in range(worker_rounds)]
    worker = sorted(runs, key=lambda run: run["jobs_per_s"])[len(runs) // 2]
    bare = max((c for c in clients if "requests_per_s" in c and not c["client"].startswith("delivery.")),
               key=lambda c: c["requests_per_s"])
    aiohttp = next(c for c in clients if c["client"] == "aiohttp")
    delivery = {"environment": environment(), "worker": worker, "worker_rounds": [r["jobs_per_s"] for r in runs],
                "fastest_bare_client": bare, "ratio": round(worker["jobs_per_s"] / bare["requests_per_s"], 3),
                "ratio_to_bare_aiohttp": round(worker["jobs_per_s"] / aiohttp["requests_per_s"], 3),
                "target_ratio": 0.8, "cpu_us_per_job_worker": worker["worker_cpu_us_per_job"],
                "cpu_us_per_request_bare_aiohttp": aiohttp["cpu_us_per_request"],
                "cpu_us_per_request_fastest_bare": bare["cpu_us_per_request"],
                "request_ms_fastest_bare": round(1000 * concurrency / bare["requests_per_s"], 2)}
    return summary, delivery


def run(*, requests: int, worker_jobs: int, concurrency: int = 64) -> dict[str, Any]:
    """The `delivery` benchmark of `callapi-events bench`: the bare clients, then one worker (median of 5)."""
    import uvloop

    clients, delivery = uvloop.run(measure(requests=requests, concurrency=concurrency, worker_jobs=worker_jobs))
    assert delivery is not None
    delivery.pop("environment")  # the caller records the machine's
    return {**delivery, "clients": clients["clients"], "requests": requests, "concurrency": concurrency}


async def main_async(args: argparse.Namespace) -> None:
    clients, delivery = await measure(requests=args.requests, concurrency=args.concurrency,
                                      worker_jobs=None if args.no_worker else args.worker_jobs)
    print(json.dumps(clients, indent=2))
    print("wrote", write("http_clients.json", clients))
    if delivery is not None:
        print(json.dumps(delivery, indent=2))
        print("wrote", write("delivery.json", delivery))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000, help="requests per round and client")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight at once")
    parser.add_argument("--worker-jobs", type=int, default=20000, help="jobs for the worker benchmark")
    parser.add_argument("--no-worker", action="store_true", help="only the bare clients")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="event loop of the bare client loops (the worker runs on uvloop)")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main_async(args))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
