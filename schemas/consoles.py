"""The consoles every command prints with: `stdout_console()` for results, `stderr_console()` for notices
(errors, warnings, progress), so that stdout stays the result (JSON with --json).

On a terminal they wrap long messages to its width, as rich does. Piped (a log file, grep), rich would assume 80
columns and break a message over several lines mid-sentence; there they soft-wrap instead: one message, one line.
Tables render as before: their cells still wrap to the width.
"""

from __future__ import annotations

import logging

from rich.console import Console


def stdout_console() -> Console:
    return _one_line_when_piped(Console())


def stderr_console() -> Console:
    return _one_line_when_piped(Console(stderr=True))


def _one_line_when_piped(console: Console) -> Console:
    console.soft_wrap = not console.is_terminal
    return console


def quiet_kafka_client() -> None:
    """For a one-shot command: the Kafka client's routine INFO lines (subscribed, metadata changed) bury the
    command's own output on stderr; its warnings and errors still show, and --log-level DEBUG shows it all."""
    kafka = logging.getLogger("aiokafka")
    if kafka.getEffectiveLevel() == logging.INFO:
        kafka.setLevel(logging.WARNING)
