"""The fault suite's report: one line per scenario, written to tests/artifacts/faults-report.txt and printed
at the end of the pytest run (see conftest.py)."""

from __future__ import annotations

from pathlib import Path

from tests.faults.invariants import InvariantReport

REPORT_PATH = Path(__file__).parent.parent / "artifacts" / "faults-report.txt"
LINES: list[str] = []


def line(scenario: str, report: InvariantReport, *, events: int, notes: str = "") -> str:
    text = f"{scenario:<22} events {events}, {report.summary()}"
    return f"{text}; {notes}" if notes else text


def record(scenario: str, report: InvariantReport, *, events: int, notes: str = "") -> None:
    """Keep the scenario's line (written at once, so a later crash still leaves it on disk)."""
    LINES.append(line(scenario, report, events=events, notes=notes))
    REPORT_PATH.parent.mkdir(exist_ok=True)
    REPORT_PATH.write_text("\n".join(LINES) + "\n")
