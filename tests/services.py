"""Pipeline components as real subprocesses on known ports: start, SIGKILL, restart, readiness and metrics."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from types import TracebackType

import httpx

from schemas.ops import free_port
from schemas.settings import Settings
from tests.processes import Component


def wait_until(probe: Callable[[], object], *, timeout_s: float, what: str, every_s: float = 0.2,
               log: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            tail = f":\n{log()[-3000:]}" if log is not None else ""
            raise AssertionError(f"not {what} within {timeout_s:.0f} s{tail}")
        time.sleep(every_s)


def scrape(url: str) -> str | None:
    """What `url`/metrics serves now; None when nothing answers."""
    try:
        return httpx.get(f"{url}/metrics", timeout=5).text
    except httpx.TransportError:
        return None


def metric_in(text: str, name: str) -> float:
    """A bare name sums the metric over its label sets; `x_total{result="set"}` is that one sample (0 if absent)."""
    labels = "" if "{" in name else r"(?:\{[^}]*\})?"
    pattern = re.compile(rf"^{re.escape(name)}{labels} ([0-9.e+-]+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def metric(url: str, name: str) -> float:
    """`metric_in` of what `url` serves now (0 when nothing answers)."""
    text = scrape(url)
    return 0.0 if text is None else metric_in(text, name)


class Service:
    """`callapi-events <command> --port P` on a port of its own; used as a context manager, it is ready inside."""

    def __init__(self, settings: Settings, command: str, *, name: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = command
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

    def stop(self) -> int | None:
        """SIGTERM, then the exit status."""
        return self.component.stop()

    def ready(self) -> bool:
        process = self.component.process
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{self.command} exited {process.returncode}: {self.component.log()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        return False

    def wait_ready(self, timeout_s: float = 90.0) -> Service:
        wait_until(self.ready, timeout_s=timeout_s, what=f"{self.command} ready", log=self.component.log)
        return self

    def metric(self, name: str) -> float:
        return metric(self.url, name)

    def sample(self, name: str) -> float | None:
        """As `metric`, but None when the process does not answer (for diagnostics)."""
        text = scrape(self.url)
        return None if text is None else metric_in(text, name)

    def wait_metric(self, name: str, at_least: float, timeout_s: float = 60.0) -> None:
        wait_until(lambda: self.metric(name) >= at_least, timeout_s=timeout_s, what=f"{name} >= {at_least}",
                   log=self.component.log)

    def __enter__(self) -> Service:
        return self.start().wait_ready()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


@contextlib.contextmanager
def all_ready(*services: Service) -> Iterator[None]:
    """Start them all at once and wait until each is ready; stop them all on the way out."""
    with contextlib.ExitStack() as stack:
        for service in services:
            stack.callback(service.stop)
            service.start()
        for service in services:
            service.wait_ready()
        yield
