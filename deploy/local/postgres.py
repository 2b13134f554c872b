"""PostgreSQL for the local stack: the system's binaries, our own data folder, a `callapi` database.

PostgreSQL refuses to run as root, so when we are root the server runs as the package's `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

from deploy.local.errors import StackError
from deploy.local.process import exclusive, pid_alive, port_holder, port_in_use
from schemas.ops import free_port

USER = "callapi"
PASSWORD = "callapi"
DATABASE = "callapi"
PREFERRED_PORT = 5432


def find_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    for found in reversed(candidates):
        if (Path(found) / "pg_ctl").exists():
            return Path(found)
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def ensure_installed() -> Path:
    bin_dir = find_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            "PostgreSQL server binaries were not found. Install them (Debian/Ubuntu: "
            "`sudo apt-get install postgresql`), then run `callapi-events stack up` again."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        result = subprocess.run(args, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise StackError(f"`{' '.join(args)}` failed:\n{result.stderr[-2000:]}")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise StackError("apt-get installed postgresql but pg_ctl was not found under /usr/lib/postgresql.")
    return bin_dir


class Postgres:
    """A PostgreSQL cluster in `stack_dir/postgres`, listening on 127.0.0.1 only.

    `initial_port` is the port a new data folder is set up with; by default 5432, or a free one when that is taken.
    """

    def __init__(self, *, stack_dir: Path, initial_port: int | None = None):
        self.home = stack_dir / "postgres"
        self.initial_port = initial_port
        self.data = self.home / "data"
        self.port_file = self.home / "port"

    @property
    def port(self) -> int:
        try:
            return int(self.port_file.read_text())
        except (FileNotFoundError, ValueError):
            return PREFERRED_PORT

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True)

    def _prepare_folder(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
            for parent in [self.home, *self.home.parents]:
                if parent.stat().st_mode & 0o001 == 0:
                    raise StackError(
                        f"{parent} is not searchable by other users, so the `postgres` user cannot reach "
                        "its data folder. `chmod o+x` it or choose another --stack-dir."
                    )

    def _init(self, bin_dir: Path) -> None:
        pw_file = self.home / "pwfile"
        pw_file.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(pw_file, "postgres", "postgres")
        result = self._run(
            bin_dir, "initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pw_file}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C.UTF-8",
        )
        pw_file.unlink()
        if result.returncode != 0:
            raise StackError("initdb failed:\n" + result.stdout + result.stderr)
        port = self.initial_port or (PREFERRED_PORT if not port_in_use(PREFERRED_PORT) else free_port())
        self.port_file.write_text(str(port))
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{self.home}'\nmax_connections = 300\n"
                "shared_buffers = 128MB\nfsync = on\nlogging_collector = off\n"
            )

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and self._pg_ctl_status()

    def _pg_ctl_status(self) -> bool:
        bin_dir = find_bin_dir()
        return bin_dir is not None and self._run(bin_dir, "pg_ctl", "status", "-D", str(self.data)).returncode == 0

    def up(self) -> str:
        bin_dir = ensure_installed()
        with exclusive(self.home / "up.lock"):
            return self._up(bin_dir)

    def _up(self, bin_dir: Path) -> str:
        self._prepare_folder()
        if not (self.data / "PG_VERSION").exists():
            self._init(bin_dir)
        if self.running():
            return f"already running on 127.0.0.1:{self.port}"
        if port_in_use(self.port):
            raise StackError(
                f"Port {self.port} is in use by another program; stop it, or delete {self.home} "
                "so that `stack up` picks a free port."
            )
        return self.launch(bin_dir)

    def launch(self, bin_dir: Path) -> str:
        """Start our server and prove that the one answering on our port is it.

        Another server can take the port between `up`'s free-port check and our bind (a second stack starting
        at the same time). So our postmaster must be alive and the server on 127.0.0.1:<port> must report our
        data folder; otherwise ours is stopped and the error names what holds the port. `up` calls this after
        its checks; called alone, it skips them.
        """
        result = self._run(
            bin_dir, "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.home / "server.log")
        )
        if result.returncode != 0 or not self._answers_as_ours():
            self.down()
            if port_in_use(self.port):
                raise self._conflict()
            raise StackError(
                f"PostgreSQL did not start or does not answer on 127.0.0.1:{self.port}; "
                f"see {self.home / 'server.log'}.\n{result.stderr}"
            )
        self._ensure_database(bin_dir)
        return f"started on 127.0.0.1:{self.port}"

    def _postmaster_alive(self) -> bool:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        return pid_alive(pid)

    def _answering_data_dir(self) -> str | None:
        """The data folder of the server answering on 127.0.0.1:<port>, asked with this stack's credentials."""
        import psycopg

        dsn = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/postgres"
        try:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                row = conn.execute("SHOW data_directory").fetchone()
        except psycopg.Error:
            return None
        return str(row[0]) if row else None

    def _answers_as_ours(self, timeout_s: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._postmaster_alive():
            answering = self._answering_data_dir()
            if answering is not None:
                return Path(answering).resolve() == self.data.resolve()
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return False

    def _conflict(self) -> StackError:
        answering = self._answering_data_dir()
        what = f"a PostgreSQL with data in {answering}" if answering else "which does not answer this stack's login"
        return StackError(
            f"127.0.0.1:{self.port} is held by {port_holder(self.port)}, {what}, not by this stack's PostgreSQL "
            f"(data in {self.data}), which was stopped.\n"
            "Stop that process (`callapi-events stack down --stack-dir <its folder>` if another stack started it), "
            f"or delete {self.home} (its data too) so that `stack up` sets it up again on a free port."
        )

    def _ensure_database(self, bin_dir: Path) -> None:
        deadline = time.monotonic() + 30
        while True:
            result = self._run(
                bin_dir, "psql", "-h", str(self.home), "-p", str(self.port), "-U", USER, "-d", "postgres",
                "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
            )
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                self.down()  # left running, the next `up` would pass it as "already running"
                raise StackError("PostgreSQL started but does not answer queries:\n" + result.stderr)
            time.sleep(0.5)
        if result.stdout.strip() != "1":
            created = self._run(bin_dir, "createdb", "-h", str(self.home), "-p", str(self.port), "-U", USER, DATABASE)
            if created.returncode != 0:
                self.down()  # a running server without the database would pass the next `up` as "already running"
                raise StackError(
                    f"createdb of the `{DATABASE}` database failed, so PostgreSQL was stopped:\n"
                    f"{created.stderr.strip()}\n"
                    f"Fix the cause above (see also {self.home / 'server.log'}), "
                    "then run `callapi-events stack up` again."
                )

    def down(self) -> str:
        if not self.running():
            return "not running"
        bin_dir = find_bin_dir()
        assert bin_dir is not None
        result = self._run(bin_dir, "pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))
        return "stopped" if result.returncode == 0 else f"stop failed: {result.stderr.strip()}"

    def status(self) -> str:
        return f"ready on 127.0.0.1:{self.port} (data {self.data})" if self.running() else "stopped"
