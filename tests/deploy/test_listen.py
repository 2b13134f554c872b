"""`--host ::`, as the manifests run every component: one socket that IPv4 and IPv6 probes both reach, and on a host
without IPv6 a listener on 0.0.0.0 rather than none."""

from __future__ import annotations

import asyncio
import errno
import socket

import httpx
import pytest

from schemas import ops
from schemas.ops import free_port, listen_sockets, serve_ops
from schemas.settings import Settings
from tests.processes import Component
from tests.services import wait_until


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


LOOPBACKS = ["127.0.0.1", "[::1]"] if _has_ipv6_loopback() else ["127.0.0.1"]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_ops_endpoint_on_any_address_answers_ipv4_and_ipv6() -> None:
    async def scenario() -> None:
        runner = await serve_ops("::", 0)
        try:
            port = ops.bound_port(runner)
            async with httpx.AsyncClient(timeout=5) as client:
                for host in LOOPBACKS:
                    response = await client.get(f"http://{host}:{port}/healthz")
                    assert response.json() == {"status": "ok"}, host
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


@pytest.mark.parametrize("command", [["api", "--no-relay"], ["ingest"]])
def test_served_component_on_any_address_answers_ipv4_and_ipv6(base_settings: Settings, command: list[str]) -> None:
    """The uvicorn-served API and the ingest endpoint, started as the manifests start them."""
    port = free_port()
    with Component(base_settings, *command, "--host", "::", "--port", str(port)) as component:
        for host in LOOPBACKS:
            wait_until(lambda host=host: _answers(f"http://{host}:{port}/healthz"), timeout_s=60,  # type: ignore[misc]
                       what=f"{command[0]} answering on {host}", log=component.log)


def test_any_address_falls_back_to_ipv4_without_ipv6(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel booted with ipv6.disable=1 refuses IPv6 sockets: the pod still listens, on IPv4."""
    real_socket = socket.socket

    def no_ipv6(family: int = socket.AF_INET, *args: object) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return real_socket(family, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ops.socket, "socket", no_ipv6)
    (sock,) = listen_sockets("::", 0)
    with sock:
        assert sock.getsockname()[0] == "0.0.0.0"
        port = sock.getsockname()[1]
        with real_socket() as client:
            client.connect(("127.0.0.1", port))


def test_a_taken_port_is_an_error_not_a_silent_fallback() -> None:
    with socket.socket(socket.AF_INET6) as holder:
        holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        holder.bind(("::", 0))
        holder.listen()
        with pytest.raises(OSError) as raised:
            listen_sockets("::", holder.getsockname()[1])
        assert raised.value.errno == errno.EADDRINUSE

