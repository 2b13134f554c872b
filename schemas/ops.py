"""The operations endpoint every long-running component serves: /healthz, /readyz and /metrics.

Liveness says the process's loop answers; readiness asks the component (`ready` callback) whether it can
do its work (e.g. partitions assigned and the config table recovered).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

ReadyCheck = Callable[[], Awaitable[bool]]
log = logging.getLogger(__name__)
ANY_ADDRESS = "::"
"""`--host ::` listens on every IPv6 and IPv4 address (an IPv6-only or dual-stack cluster probes pods over IPv6)."""
NO_IPV6 = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL)


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


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound sockets for host:port (one per address a name resolves to), for aiohttp's SockSite or uvicorn.

    `::` is one dual-stack socket: asyncio's and uvloop's create_server make it IPv6-only, so IPv4 probes would
    find nothing. On a node whose kernel has no IPv6 it falls back to 0.0.0.0, where create_server would skip
    the family it cannot open and serve on no socket at all, without an error."""
    if host == ANY_ADDRESS:
        try:
            sock = _bound(socket.AF_INET6, (host, port), dual_stack=True)
        except OSError as error:
            if error.errno not in NO_IPV6:
                raise
            log.warning("no IPv6 on this host (%s): listening on 0.0.0.0 only", error.strerror)
            return [_bound(socket.AF_INET, ("0.0.0.0", port))]
        return [sock]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, _, _, _, address in infos:
            sockets.append(_bound(family, address))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bound(family: int, address: tuple[object, ...], *, dual_stack: bool = False) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as create_server: restart over TIME_WAIT
        if family == socket.AF_INET6:  # a named IPv6 address takes IPv6 only, as create_server would
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def start_sites(runner: web.BaseRunner, host: str, port: int) -> None:
    """Serve the runner on host:port (see `listen_sockets`); OSError when it cannot be bound."""
    for sock in listen_sockets(host, port):
        await web.SockSite(runner, sock).start()


async def serve_ops(host: str, port: int, *, ready: ReadyCheck = _always_ready) -> web.AppRunner:
    """Start serving; `await runner.cleanup()` stops. Port 0 picks a free port (see `bound_port`)."""
    runner = web.AppRunner(ops_app(ready=ready), access_log=None)
    await runner.setup()
    try:
        await start_sites(runner, host, port)
    except OSError:
        await runner.cleanup()
        raise
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
