"""`stack up` proves that the server answering on its port is the one it started.

Between `up`'s free-port check and its readiness check another server can take the port (a second stack
starting at the same time). These tests put each service in exactly that state: a first server in a temporary
folder holds a port, and a second one of another folder is launched on the same port past the free-port check.
The second must report the conflict and leave no process behind, never report "started". The shared stack is
never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.errors import StackError
from deploy.local.kafka import Kafka
from deploy.local.postgres import Postgres, ensure_installed
from deploy.local.stack import Stack
from schemas.ops import free_port, free_port_pair
from schemas.settings import Settings


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line mentions `text` (our temporary folder), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def cluster_id_in(kafka: Kafka) -> str:
    for line in (kafka.home / "data" / "meta.properties").read_text().splitlines():
        if line.startswith("cluster.id="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("meta.properties has no cluster.id")


@pytest.fixture
def stack_folders() -> Iterator[tuple[Path, Path]]:
    folders = [Path(tempfile.mkdtemp(prefix="callapi-identity-", dir="/tmp")) for _ in range(2)]
    for folder in folders:
        folder.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root
    yield folders[0], folders[1]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_kafka_port_taken_after_the_free_port_check_is_a_conflict_not_started(
    base_settings: Settings, stack_folders: tuple[Path, Path],
) -> None:
    cache_dir = base_settings.cache_dir / "maven"
    first = Kafka(stack_dir=stack_folders[0], cache_dir=cache_dir, port=free_port(), controller_port=free_port())
    second = Kafka(stack_dir=stack_folders[1], cache_dir=cache_dir, port=first.port, controller_port=free_port())
    try:
        assert first.up().startswith("started")
        with pytest.raises(StackError, match="already in use"):
            second.up()
        with pytest.raises(StackError) as raised:
            print(second.launch())
        left_behind = processes_mentioning(str(stack_folders[1]))
        assert first.status().startswith("ready"), first.status()
    finally:
        second.down()
        first.down()
    message = str(raised.value)
    assert f"127.0.0.1:{first.port}" in message and cluster_id_in(first) in message, message
    assert cluster_id_in(second) in message and "CALLAPI_KAFKA_BOOTSTRAP" in message, message
    assert len(message.splitlines()) <= 2, message
    assert left_behind == []
    assert second.status() == "stopped"


def test_a_kafka_port_taken_by_another_program_names_that_program(
    base_settings: Settings, stack_folders: tuple[Path, Path],
) -> None:
    kafka = Kafka(stack_dir=stack_folders[0], cache_dir=base_settings.cache_dir / "maven", port=free_port(),
                  controller_port=free_port())
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", kafka.port))
        holder.listen()
        try:
            with pytest.raises(StackError) as raised:
                print(kafka.launch())  # ours cannot bind and exits: that is reported as the conflict it is
            left_behind = processes_mentioning(str(stack_folders[0]))
        finally:
            kafka.down()
    message = str(raised.value)
    assert f"127.0.0.1:{kafka.port} is held by pid {os.getpid()}" in message, message
    assert "no Kafka metadata answer" in message and len(message.splitlines()) <= 2, message
    assert left_behind == []


def test_a_taken_kafka_controller_port_is_named_before_kafka_starts(
    base_settings: Settings, stack_folders: tuple[Path, Path],
) -> None:
    port = free_port_pair()
    kafka = Kafka(stack_dir=stack_folders[0], cache_dir=base_settings.cache_dir / "maven", port=port,
                  controller_port=port + 1)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port + 1))
        holder.listen()
        with pytest.raises(StackError) as raised:
            kafka.up()
    assert f"Port {port + 1} on 127.0.0.1, where Kafka's controller listens" in str(raised.value)
    assert not kafka.service.running()
    assert processes_mentioning(str(stack_folders[0])) == []


def test_a_postgres_port_taken_after_the_free_port_check_is_a_conflict_not_started(
    stack_folders: tuple[Path, Path],
) -> None:
    first = Postgres(stack_dir=stack_folders[0])
    second = Postgres(stack_dir=stack_folders[1])
    try:
        assert first.up().startswith("started")
        second = Postgres(stack_dir=stack_folders[1], initial_port=first.port)
        with pytest.raises(StackError, match="in use"):
            second.up()
        with pytest.raises(StackError) as raised:
            print(second.launch(ensure_installed()))
        assert not second.running()
        assert processes_mentioning(str(second.data)) == []
        assert first.status().startswith("ready"), first.status()
    finally:
        second.down()
        first.down()
    message = str(raised.value)
    assert f"127.0.0.1:{first.port}" in message and str(first.data) in message, message
    assert str(second.data) in message, message
    assert len(message.splitlines()) <= 2, message


def test_two_stack_ups_of_one_folder_at_once_start_one_of_each(
    base_settings: Settings, stack_folders: tuple[Path, Path],
) -> None:
    folder = stack_folders[0]
    port = free_port_pair()
    env = {**os.environ, "COLUMNS": "200", "CALLAPI_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}
    command = [sys.executable, "-m", "callapi_events", "stack", "up", "--stack-dir", str(folder)]
    try:
        ups = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
        outputs = [up.communicate(timeout=240)[0] for up in ups]
        brokers = processes_mentioning(f"{folder}/kafka/server.properties")
    finally:
        Stack.at(folder, base_settings.cache_dir / "maven", f"127.0.0.1:{port}").down()
    assert [up.returncode for up in ups] == [0, 0], outputs
    joined = "\n".join(outputs)
    assert joined.count("started") == 2 and joined.count("already running") == 2, joined
    assert len(brokers) == 1, brokers
