"""A background service tracked by a pid file: start detached, check, stop only what we started."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.local.errors import StackError


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(fields[9])
    return inodes


def port_holder(port: int) -> str:
    """Who listens on `port`, e.g. "pid 42 (java … kafka.Kafka /x/kafka/server.properties)", from /proc.

    Falls back to "another program" where /proc does not tell (another user's process, no /proc).
    """
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    for proc in Path("/proc").glob("[0-9]*") if sockets else []:
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in sockets for fd in (proc / "fd").iterdir()):
                args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
                shown = " ".join(args) if len(args) <= 3 else " ".join([Path(args[0]).name, "…", *args[-2:]])
                return f"pid {proc.name} ({shown})"
    return "another program"


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Serialises `up` of one folder across processes: a second `up` waits, then finds the first one's server."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, even if we crash
        yield


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
