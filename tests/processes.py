"""Run components as real subprocesses (`python -m callapi_events …`) with a test's settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from schemas.settings import Settings

ARTIFACTS = Path(__file__).parent / "artifacts"


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a subprocess see exactly these settings."""
    return settings.environment(os.environ)


def ctrl_c_enabled() -> None:
    """`preexec_fn` for a command a test interrupts as a person would with Ctrl-C: a shell that starts the tests in
    the background (`make test &`, CI) has them ignore SIGINT, and its commands would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Component:
    """`with Component(settings, "processor", "--port", "0") as c:`; SIGTERM on exit, SIGKILL with c.kill()."""

    def __init__(self, settings: Settings, *args: str, name: str | None = None) -> None:
        self.args = args
        self.env = settings_env(settings)
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"{name or args[0]}-{os.getpid()}-{id(self):x}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Component:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "callapi_events", *self.args], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, no commit: what a crash looks like."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Component:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
