"""Pipeline components as restartable real subprocesses on known ports, with readiness and metrics."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable

import httpx

from schemas.ops import free_port
from schemas.settings import Settings
from tests.processes import Component

# Faust reads its broker settings from these variables. Its default session timeout (60 s) makes every
# SIGKILL stall the partitions for a minute until the dead member is expelled; 10 s keeps the
# repeated-kill scenario bounded while still exercising the same rebalance path.



def wait_until(probe: Callable[[], object], *, timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout_s:.0f} s")
        time.sleep(every_s)


class Service:
    """`callapi-events <command> --port P` on a fixed port: start, SIGKILL, restart, ready, metrics."""

    def __init__(self, settings: Settings, command: str, *, name: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.component = Component(settings, command, "--port", str(self.port), name=name)
        self.component.env.update(env or {})
        self.kills = 0
        self.kill_times: list[str] = []

    def start(self) -> Service:
        self.component.start()
        return self

    def kill(self) -> None:
        self.component.kill()
        self.kills += 1
        self.kill_times.append(time.strftime("%H:%M:%S"))

    def restart(self) -> None:
        self.component.kill()
        self.component.start()

    def stop(self) -> None:
        self.component.stop()

    def ready(self) -> bool:
        process = self.component.process
        if process is not None and process.poll() is not None:
            name = self.component.args[0]
            raise AssertionError(f"{name} exited {process.returncode}: {self.component.log()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        return False

    def wait_ready(self, timeout_s: float = 90.0) -> Service:
        wait_until(self.ready, timeout_s=timeout_s, what=f"{self.component.args[0]} ready")
        return self

    def sample(self, sample: str) -> float | None:
        """One sample, labels included (e.g. `x_total{result="no_match"}`); None when not answered."""
        try:
            text = httpx.get(f"{self.url}/metrics", timeout=5).text
        except httpx.TransportError:
            return None
        return next((float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(sample + " ")),
                    None)

    def metric(self, name: str) -> float:
        """The sum of a metric over its label sets (0 when the process does not answer)."""
        try:
            text = httpx.get(f"{self.url}/metrics", timeout=5).text
        except httpx.TransportError:
            return 0.0
        pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+-]+)$", re.MULTILINE)
        return sum(float(value) for value in pattern.findall(text))


def processor(settings: Settings, name: str = "faults-processor") -> Service:
    return Service(settings, "processor", name=name)


def deliverer(settings: Settings, name: str = "faults-deliver") -> Service:
    return Service(settings, "deliver", name=name)


def control_api(settings: Settings, name: str = "faults-api") -> Service:
    """The Control API with its outbox relay (config reaches `event-requests` through it)."""
    return Service(settings, "api", name=name)
