"""The whole pipeline as real subprocesses (Control API with its relay, processor, delivery worker)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg

from schemas.ops import free_port
from schemas.settings import Settings
from tests.processes import Component


@dataclass(frozen=True)
class Pipeline:
    api_url: str
    processor_url: str
    deliver_url: str


def wait_ready(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not become ready within {timeout_s} s")


def metric(url: str, name: str) -> float:
    """The value of an unlabelled metric (or the sum over its label sets)."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+-]+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def wait_for_metric(url: str, name: str, at_least: float, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if metric(url, name) >= at_least:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} at {url} stayed below {at_least}")


@contextlib.contextmanager
def running_pipeline(settings: Settings) -> Iterator[Pipeline]:
    ports = {name: free_port() for name in ("api", "processor", "deliver")}
    with contextlib.ExitStack() as stack:
        for name, port in ports.items():
            stack.enter_context(Component(settings, name, "--port", str(port)))
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for url in urls.values():
            wait_ready(url)
        yield Pipeline(urls["api"], urls["processor"], urls["deliver"])


def free_tenant_base(database_url: str, organizations: int) -> int:
    """A block of free 4-digit organization codes."""
    with psycopg.connect(database_url) as conn:
        taken = {int(code) for (code,) in conn.execute(
            "SELECT code FROM accounts WHERE kind = 'organization'").fetchall()}
    for base in range(9000 - organizations, 1000, -organizations):
        if not taken.intersection(range(base, base + organizations)):
            return base
    raise RuntimeError("no free block of organization codes")
