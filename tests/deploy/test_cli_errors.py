"""`topics create` and `lag-exporter` as an operator runs them the first time: defaults visible in --help, wrong
values and an unreachable Kafka answered in a line or two with a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

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


@pytest.mark.parametrize(("name", "value"), [("CALLAPI_PARTITIONS", "abc"), ("CALLAPI_RETRY_SCHEDULE", "soon")])
def test_a_bad_setting_is_named_in_one_line(base_settings: Settings, name: str, value: str) -> None:
    done = cli(base_settings, "topics", "create", **{name: value})
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"bad setting {name}:" in done.stderr and "Traceback" not in done.stderr
