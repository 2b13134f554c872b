"""`callapi-events demo` end to end: a real run on the stack, as a user starts it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from schemas.settings import Settings
from tests.processes import settings_env


def _count(output: str, label: str) -> int:
    match = re.search(rf"{re.escape(label)}\s*│\s*([\d,]+)", output)
    assert match, f"{label!r} not in the summary:\n{output}"
    return int(match.group(1).replace(",", ""))


def test_the_demo_exits_0_and_every_delivery_reached_its_receiver(settings: Settings, tmp_path: Path) -> None:
    env = settings_env(settings.model_copy(update={"stack_dir": tmp_path}))
    env["COLUMNS"] = "160"
    result = subprocess.run([sys.executable, "-m", "callapi_events", "demo", "--duration", "20"], env=env,
                            capture_output=True, text=True, timeout=240, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    delivered = _count(output, "delivered (delivery workers)")
    assert delivered > 0
    assert delivered == _count(output, "accepted by the demo receiver (2xx)")
    assert delivered == _count(output, "events produced (acknowledged by Kafka)")  # one request per type
    assert _count(output, "retried attempts") > 0  # the receiver refuses some first attempts
    chart = re.search(r"latency chart: (\S+\.png)", output)
    assert chart and Path(chart.group(1)).stat().st_size > 0
