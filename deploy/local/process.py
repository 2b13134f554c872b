"""A background service tracked by a pid file: start detached, check, stop only what we started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.local.errors import StackError


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0



def pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # our own exited child is a zombie until reaped
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Service:
    name: str
    pid_file: Path
    port: int

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def check_port_free(self) -> None:
        if port_in_use(self.port):
            raise StackError(
                f"Port {self.port} on 127.0.0.1 is already in use by another program, so {self.name} "
                "cannot start. Stop that program, or point CALLAPI_* settings at the service already there."
            )

    def start(self, command: list[str], *, log_file: Path) -> None:
        with log_file.open("ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))

    def wait_until(self, ready: Callable[[], bool], *, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                raise StackError(f"{self.name} exited while starting; see its log under {self.pid_file.parent}.")
            if ready():
                return
            time.sleep(0.5)
        raise StackError(
            f"Timed out after {timeout_s:.0f} s waiting for {what}; see logs under {self.pid_file.parent}."
        )

    def stop(self, *, timeout_s: float) -> str:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return f"stopped (pid {pid})"
