"""The benchmarks' sink: bench/nginx.py's private nginx answering 204, here with an access log that says
when each notification arrived (`$msec`) and which one it was (`$http_webhook_id`), on one or more ports."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.nginx import Nginx, nginx_config
from schemas.ops import free_port

ARRIVALS_LOG = ("log_format arrivals '$msec $http_webhook_id $server_port'; "
                "access_log {root}/access.log arrivals buffer=256k flush=200ms;")


@dataclass(frozen=True)
class Arrival:
    at_s: float
    webhook_id: str
    port: int


class LoggingNginx(Nginx):
    """`with LoggingNginx(ports=20) as sink:` listens on `sink.ports`; `sink.arrivals()` reads the log."""

    def __init__(self, *, ports: int = 1) -> None:
        super().__init__()
        self.ports = [self.port, *(free_port() for _ in range(ports - 1))]
        self._from_byte = 0

    @property
    def root(self) -> Path:
        return Path(self._dir.name)

    def url_of(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def config(self, root: Path) -> str:
        return nginx_config(root, self.ports, logging=ARRIVALS_LOG.format(root=root))

    def _log(self) -> bytes:
        path = self.root / "access.log"
        if not path.exists():
            return b""
        with path.open("rb") as log:
            log.seek(self._from_byte)
            return log.read()

    def arrivals(self) -> list[Arrival]:
        found = []
        for line in self._log().decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] != "-":
                found.append(Arrival(float(parts[0]), parts[1], int(parts[2])))
        return found

    def count(self) -> int:
        return self._log().count(b"\n")

    def clear(self) -> None:
        """Forget the arrivals so far (the log is kept; nginx's workers could not reopen a new one)."""
        time.sleep(0.5)  # the log buffer is flushed every 200 ms
        path = self.root / "access.log"
        self._from_byte = path.stat().st_size if path.exists() else 0
