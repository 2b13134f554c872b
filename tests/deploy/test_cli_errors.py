"""`topics create`, `lag-exporter` and `stack status` as an operator runs them the first time: defaults visible in
--help, wrong values and an unreachable Kafka or PostgreSQL answered in a line or two with a non-zero exit, never
a traceback."""

from __future__ import annotations

import os
import pty
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas.settings import Settings
from tests.processes import settings_env


def cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callapi_events", *args],
                          env={**settings_env(settings), "COLUMNS": "200", **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "default"), [
    (("stack", "up", "--help"), "[default: CALLAPI_STACK_DIR or .stack]"),
    (("topics", "create", "--help"), "[default: CALLAPI_PARTITIONS or 12]"),
])
def test_help_shows_where_a_default_comes_from(base_settings: Settings, args: tuple[str, ...], default: str) -> None:
    done = cli(base_settings, *args)
    assert done.returncode == 0 and default in done.stdout, done.stdout


def test_topics_create_refuses_zero_partitions_as_a_usage_error(base_settings: Settings) -> None:
    done = cli(base_settings, "topics", "create", "--partitions", "0")
    assert done.returncode == 2 and "--partitions" in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_lag_exporter_without_kafka_says_what_to_set(base_settings: Settings) -> None:
    done = cli(base_settings, "lag-exporter", "--port", "0", CALLAPI_KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot reach Kafka at 127.0.0.1:1" in done.stderr and "CALLAPI_KAFKA_BOOTSTRAP" in done.stderr
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr
    assert "Unable connect" not in done.stderr, done.stderr  # aiokafka's own line would only repeat ours


@pytest.mark.parametrize(("name", "value"), [("CALLAPI_PARTITIONS", "abc"), ("CALLAPI_RETRY_SCHEDULE", "soon")])
def test_a_bad_setting_is_named_in_one_line(base_settings: Settings, name: str, value: str) -> None:
    done = cli(base_settings, "topics", "create", **{name: value})
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"bad setting {name}:" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("name", "value", "said"), [
    ("CALLAPI_KAFKA_BOOTSTRAP", "127.0.0.1:1", "Kafka is not reachable at 127.0.0.1:1."),
    ("CALLAPI_DATABASE_URL", "postgresql://callapi:callapi@127.0.0.1:1/callapi",
     "PostgreSQL is not reachable at 127.0.0.1:1/callapi: connection failed"),
    ("CALLAPI_DATABASE_URL", "postgresql://callapi:not-the-password@127.0.0.1:{pg}/callapi",
     'password authentication failed for user "callapi"'),
])
def test_stack_status_says_a_setting_does_not_reach_the_stack_and_exits_1(
    base_settings: Settings, name: str, value: str, said: str,
) -> None:
    from deploy.local.postgres import Postgres

    value = value.format(pg=Postgres(stack_dir=base_settings.stack_dir).port)
    done = cli(base_settings, "stack", "status", **{name: value})
    assert done.returncode == 1, done.stdout + done.stderr
    assert said in done.stderr and f"Check {name}" in done.stderr, done.stderr
    assert "not-the-password" not in done.stdout + done.stderr
    # The local stack itself runs: its rows say where, instead of a broker "starting" on the wrong address.
    assert "ready" in done.stdout and "starting" not in done.stdout, done.stdout


def test_stack_status_of_a_running_stack_with_its_own_settings_exits_0(base_settings: Settings) -> None:
    done = cli(base_settings, "stack", "status")
    assert done.returncode == 0 and "not reachable" not in done.stderr, done.stdout + done.stderr


def _without_width(settings: Settings) -> dict[str, str]:
    return {name: value for name, value in settings_env(settings).items() if name not in ("COLUMNS", "LINES")}


def test_stack_status_piped_keeps_each_message_on_one_line(base_settings: Settings) -> None:
    done = subprocess.run([sys.executable, "-m", "callapi_events", "stack", "status"],
                          env={**_without_width(base_settings), "CALLAPI_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
                          capture_output=True, text=True, timeout=60)
    said = next((line for line in done.stderr.splitlines() if "Kafka is not reachable" in line), "")
    assert len(said) > 80 and said.endswith("`callapi-events stack up`."), done.stderr  # not cut at 80 columns
    assert done.stdout.splitlines()[1].startswith("┏"), done.stdout  # the table is still a table


def test_stack_status_on_a_terminal_renders_the_table_to_its_width(base_settings: Settings) -> None:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "callapi_events", "stack", "status"], stdout=follower,
                              stderr=subprocess.PIPE, timeout=60,
                              env={**_without_width(base_settings), "COLUMNS": "70", "LINES": "25", "TERM": "xterm"})
    finally:
        os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: everything was read
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode()).replace("\r\n", "\n").splitlines()
    assert done.returncode == 0, done.stderr
    at = next((i for i, line in enumerate(lines) if line.strip() == "local stack: status"), None)
    assert at is not None, lines  # after the spinner's frames
    title, table = lines[at], lines[at + 1:]
    assert title.startswith("  "), lines  # centred over the table
    assert table[0].startswith("┏") and table[-1].startswith("└"), lines
    assert len({len(line) for line in table}) == 1 and len(table[0]) <= 70, lines  # the rows wrap to the width


@pytest.mark.parametrize("chosen_by", ["--stack-dir", "CALLAPI_STACK_DIR"])
def test_without_database_url_stack_status_checks_the_postgresql_of_the_chosen_stack_folder(
    base_settings: Settings, tmp_path: Path, chosen_by: str,
) -> None:
    with socket.socket() as sock:  # a port nothing listens on: this folder's PostgreSQL is not running
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "port").write_text(str(port))
    unset = ("CALLAPI_DATABASE_URL", "CALLAPI_STACK_DIR")
    env = {k: v for k, v in settings_env(base_settings).items() if k not in unset}
    if chosen_by == "--stack-dir":
        args, more_env = ["--stack-dir", str(tmp_path)], {}
    else:
        args, more_env = [], {chosen_by: str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "callapi_events", "stack", "status", *args],
                          env={**env, "COLUMNS": "200", **more_env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"PostgreSQL is not reachable at 127.0.0.1:{port}" in done.stderr, done.stderr


def test_topics_create_without_kafka_says_so_on_stderr(base_settings: Settings) -> None:
    done = cli(base_settings, "topics", "create", CALLAPI_KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Could not create topics on 127.0.0.1:1" in done.stderr and "stack up" in done.stderr, done.stderr
    assert "CALLAPI_KAFKA_BOOTSTRAP" in done.stderr, done.stderr  # the setting that points there
    assert "Unable connect" not in done.stderr, done.stderr  # aiokafka's own line would only repeat ours
    assert done.stdout == "", done.stdout  # stdout is for the report only


def test_topics_create_warns_of_a_partition_mismatch_on_stderr_and_reports_on_stdout(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(partitions=4)
    done = cli(settings, "topics", "create", "--partitions", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    said = f"warning {settings.topics.call_events}: 4 partitions, spec says 2"
    assert said in done.stderr and said not in done.stdout, done.stdout + done.stderr
    assert f"exists  {settings.topics.call_events}" in done.stdout and "0 created" in done.stdout, done.stdout
