"""The fault suite: every scenario is marked `faults` (run alone with `pytest -m faults`); its report is
printed at the end of the run, so it closes the CI log. Scenarios that stop or freeze a broker run on one of
their own (`dedicated_kafka`)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from deploy.local.kafka import Kafka
from schemas.ops import free_port
from schemas.settings import Settings
from tests.faults.report import LINES, REPORT_PATH


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not LINES:
        return
    terminalreporter.section("fault-injection report")
    for text in LINES:
        terminalreporter.write_line(text)
    terminalreporter.write_line(f"(written to {REPORT_PATH})")


@pytest.fixture(scope="module")
def dedicated_kafka(base_settings: Settings) -> Iterator[Kafka]:
    """A broker of the module's own, in a temporary folder on free ports: the shared broker is never touched."""
    home = Path(tempfile.mkdtemp(prefix="callapi-faults-kafka-"))
    kafka = Kafka(stack_dir=home, cache_dir=base_settings.cache_dir / "maven", port=free_port(),
                  controller_port=free_port())
    try:
        kafka.up()
        asyncio.run(wait_for_group_coordinator(f"127.0.0.1:{kafka.port}"))
        yield kafka
    finally:
        kafka.down()
        shutil.rmtree(home, ignore_errors=True)


async def wait_for_group_coordinator(bootstrap: str, timeout_s: float = 60.0) -> None:
    """A fresh broker answers metadata before its group coordinator (`__consumer_offsets`) is up."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await admin.find_coordinator("callapi-faults-probe")
                return
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()
