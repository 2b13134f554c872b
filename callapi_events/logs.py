"""Log output of every component: one JSON object per line (or plain text), secrets redacted.

Only the entry point calls `configure_logging`; modules log with `logging.getLogger(__name__)` and
%-style arguments, and pass correlation fields with `extra=`:

    log.info("delivered %s", url, extra={"tenant": "0003", "extension": "0003*210", "job_id": job_id})

A JSON line carries `ts`, `level`, `logger`, `msg`, the correlation fields that were passed, and `exc`
when an exception is logged. Anything that looks like a signing secret (`whsec_…`), a bearer token or
a password in a connection string is replaced before it leaves the process, in both formats.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

CORRELATION_FIELDS = ("tenant", "extension", "job_id", "request_id", "event_id", "host")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_SECRET_PATTERNS = (
    # Standard Webhooks signing secrets.
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), "whsec_[REDACTED]"),
    # `Authorization: Bearer …` and `"token_type": "Bearer", "access_token": "…"` alike.
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)((?:access_token|client_secret|password|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
     r"\1[REDACTED]"),
    # postgresql://user:password@host → postgresql://user:[REDACTED]@host
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1[REDACTED]@"),
)


def redact(text: str) -> str:
    """`text` with every secret-looking value replaced by `[REDACTED]`."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, correlation fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for name in CORRELATION_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = redact(str(value))
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        elif record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The human format for a terminal, with the same redaction and the correlation fields appended."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{name}={record.__dict__[name]}" for name in CORRELATION_FIELDS
                  if record.__dict__.get(name) is not None]
        return redact(" ".join([line, *fields]))


def configure_logging(level: str, json_format: bool, *, stream: TextIO | None = None) -> None:
    """Send every log record to `stream` (stderr) in JSON or text; replaces earlier handlers.

    Raises ValueError naming the accepted levels when `level` is not one of them.
    """
    name = level.strip().upper()
    if name not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name)
