"""The consoles every command prints with: `stdout_console()` for results, `stderr_console()` for notices
(errors, warnings, progress), so that stdout stays the result (JSON with --json).

On a terminal they wrap long messages to its width, as rich does. Piped (a log file, grep), rich would assume 80
columns and break a message over several lines mid-sentence; there they soft-wrap instead: one message, one line.
Tables render as before: their cells still wrap to the width.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

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
    command's own output on stderr, and its lines about an unreachable broker only repeat what the command says
    itself (see `drop_kafka_connection_errors`); its other warnings and errors still show, and --log-level DEBUG
    shows it all."""
    _warnings_only("aiokafka")
    drop_kafka_connection_errors()


def quiet_http_client() -> None:
    """For a command with a progress bar that makes HTTP calls: httpx logs each at INFO ("HTTP Request: POST …"),
    a line per call between the bar's redraws. Its warnings still show, and --log-level DEBUG shows it all."""
    _warnings_only("httpx")


def _warnings_only(logger: str) -> None:
    """Raise `logger` from INFO (the default level) to WARNING; a level chosen on purpose (DEBUG) is kept."""
    client = logging.getLogger(logger)
    if client.getEffectiveLevel() == logging.INFO:
        client.setLevel(logging.WARNING)


# The Kafka client's own words for a broker it cannot reach, logged once per attempt (aiokafka/client.py).
KAFKA_CONNECTION_ERRORS = ("Unable connect to ", "Unable to update metadata from ", "Unable to request metadata from ")


class _KafkaConnectionErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(KAFKA_CONNECTION_ERRORS):
            return True
        return logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)


_CONNECTION_ERRORS = _KafkaConnectionErrors()


def drop_kafka_connection_errors() -> None:
    """For a command that says itself when Kafka cannot be reached, naming CALLAPI_KAFKA_BOOTSTRAP: drop the Kafka
    client's own ERROR line about it ('Unable connect to "host:port"', 'Unable to update metadata'), which would
    stand beside that message, or repeat every second while a service retries. --log-level DEBUG keeps it."""
    logging.getLogger("aiokafka").addFilter(_CONNECTION_ERRORS)


@contextlib.contextmanager
def kafka_connection_errors_dropped() -> Iterator[None]:
    """`drop_kafka_connection_errors` only around a service's first contact with Kafka, whose failure it reports
    itself: later, the client's lines may be the only word of a broker that went away."""
    kafka = logging.getLogger("aiokafka")
    kept = _CONNECTION_ERRORS in kafka.filters
    kafka.addFilter(_CONNECTION_ERRORS)
    try:
        yield
    finally:
        if not kept:
            kafka.removeFilter(_CONNECTION_ERRORS)
