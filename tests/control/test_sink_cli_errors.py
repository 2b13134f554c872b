"""`sink` as an operator runs it with a prefix whose topics do not exist: the one-line wording of the other
commands and a non-zero exit, never aiokafka's own lines in a loop, nor a traceback."""

from __future__ import annotations

import subprocess
import sys
import uuid

from schemas.settings import Settings
from tests.processes import settings_env


def test_sink_names_a_missing_topic_and_exits(base_settings: Settings) -> None:
    prefix = f"missing.{uuid.uuid4().hex[:10]}."
    done = subprocess.run([sys.executable, "-m", "callapi_events", "sink", "--port", "0"],
                          env={**settings_env(base_settings), "CALLAPI_TOPIC_PREFIX": prefix},
                          capture_output=True, text=True, timeout=60)
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert f"topic {prefix}delivery-attempts does not exist on {base_settings.kafka_bootstrap}" in said
    assert "CALLAPI_TOPIC_PREFIX" in said and "callapi-events topics create" in said
    assert "Traceback" not in said and "Unclosed" not in said
