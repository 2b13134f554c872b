"""A private nginx answering 204 to everything: the fast local receiver of the benchmarks.

Runs Debian's nginx binary with its own configuration, pid file and logs in a temporary folder, on a free
loopback port; the system's nginx service is never touched.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from schemas.ops import free_port

CONFIG = """
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    {logging}
    client_body_temp_path {root}/body; proxy_temp_path {root}/proxy; fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
    keepalive_requests 1000000;
    server {{ {listen} location / {{ return 204; }} }}
}}
"""


def nginx_config(root: Path, ports: list[int], *, logging: str = "access_log off;") -> str:
    """nginx.conf answering 204 on every `ports` of 127.0.0.1, with its files under `root`."""
    listen = " ".join(f"listen 127.0.0.1:{port};" for port in ports)
    return CONFIG.format(root=root, listen=listen, logging=logging)



class Nginx:
    def __init__(self) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError("nginx is not installed: `apt-get install nginx-light` (or `make setup`)")
        self.binary = binary
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="callapi-bench-nginx-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The master process (its workers are its children)."""
        assert self._process is not None, "nginx is not running"
        return self._process.pid

    def config(self, root: Path) -> str:
        """The nginx.conf text; subclasses serve other configurations through the same start-up."""
        return nginx_config(root, [self.port])

    def __enter__(self) -> Self:
        root = Path(self._dir.name)
        conf = root / "nginx.conf"
        conf.write_text(self.config(root))
        self._process = subprocess.Popen(
            [self.binary, "-p", str(root), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not start; see {root}/error.log")

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
        self._dir.cleanup()
