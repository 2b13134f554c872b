"""The fault suite: every scenario is marked `faults` (run alone with `pytest -m faults`); its report is
printed at the end of the run, so it closes the CI log."""

from __future__ import annotations

import pytest

from tests.faults.report import LINES, REPORT_PATH


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not LINES:
        return
    terminalreporter.section("fault-injection report")
    for text in LINES:
        terminalreporter.write_line(text)
    terminalreporter.write_line(f"(written to {REPORT_PATH})")
