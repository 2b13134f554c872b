"""The operations endpoint every long-running component serves: /healthz, /readyz and /metrics.

Liveness says the process's loop answers; readiness asks the component (`ready` callback) whether it can
do its work (e.g. partitions assigned and the config table recovered).
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

ReadyCheck = Callable[[], Awaitable[bool]]


async def _always_ready() -> bool:
    return True


def ops_app(*, ready: ReadyCheck = _always_ready, registry: CollectorRegistry = REGISTRY) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok = await ready()
        return web.json_response({"status": "ready" if ok else "not ready"}, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def serve_ops(host: str, port: int, *, ready: ReadyCheck = _always_ready) -> web.AppRunner:
    """Start serving; `await runner.cleanup()` stops. Port 0 picks a free port (see `bound_port`)."""
    runner = web.AppRunner(ops_app(ready=ready), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    return int(runner.addresses[0][1])


def free_port() -> int:
    """A loopback port that is free right now, for a local process that must be told its port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_pair() -> int:
    """A loopback port free right now whose next port is free too (the local Kafka's controller takes port + 1):
    a port any socket holds, even a client connection's own end, cannot be listened on."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise OSError("no two adjacent loopback ports are free")
