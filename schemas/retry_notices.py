"""What a long-running service logs while it retries rounds that fail: what it cannot reach and which setting to
check, at once; the same failure again at most once every `every_s` while it lasts (a retry every second must
not bury the log); and once when a round works again.

`RetryNotices` is the pure policy (the clock is an argument); `failure_reason` words an error for an operator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from aiokafka.errors import KafkaConnectionError

from schemas.hints import DATABASE_NEXT_STEP_IN_LINE, KAFKA_NEXT_STEP

WARN_EVERY_S = 60.0


def failure_reason(error: BaseException, *, bootstrap: str) -> str:
    """What failed, with what to check: the setting that points at an unreachable service, or the error itself."""
    if isinstance(error, KafkaConnectionError):
        return f"cannot reach Kafka at {bootstrap}: {KAFKA_NEXT_STEP}"
    if isinstance(error, psycopg.errors.UndefinedTable):
        return "the database has no callapi tables: run `callapi-events db migrate`, or check CALLAPI_DATABASE_URL"
    if isinstance(error, psycopg.OperationalError):
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if error.sqlstate is not None:  # the server answered, then ended the session (a restart, a terminated backend)
            return f"lost its PostgreSQL connection ({detail})"
        return f"cannot reach PostgreSQL ({detail}): {DATABASE_NEXT_STEP_IN_LINE}"
    return f"{type(error).__name__}: {error}"


@dataclass
class RetryNotices:
    """Decides when a failed round is worth a warning. Call `failed` after each failed round and `succeeded` after
    each round that worked."""

    every_s: float = WARN_EVERY_S
    _reason: str | None = None
    _warned_at: float = 0.0
    _quiet_rounds: int = 0
    _failing_rounds: int = 0

    def is_new(self, reason: str) -> bool:
        """Whether a round failing for `reason` would be a new failure, not a repeat of the one warned about (after a
        success, every failure is new): a caller adds what only a new one is worth, such as a traceback."""
        return reason != self._reason

    def failed(self, reason: str, now: float) -> int | None:
        """None: stay quiet (the same reason was logged less than `every_s` ago). Otherwise warn now: the number
        is how many failed rounds went unlogged since the last warning (0 for a new failure)."""
        self._failing_rounds += 1
        if reason == self._reason and now - self._warned_at < self.every_s:
            self._quiet_rounds += 1
            return None
        quiet, self._quiet_rounds = (self._quiet_rounds if reason == self._reason else 0), 0
        self._reason, self._warned_at = reason, now
        return quiet

    def succeeded(self) -> int | None:
        """After failures: how many rounds failed in a row (log that it works again); otherwise None."""
        failing, self._failing_rounds, self._reason, self._quiet_rounds = self._failing_rounds, 0, None, 0
        return failing or None

    def repeat_note(self, quiet_rounds: int, *, unit: str = "rounds") -> str:
        """The end of a warning: how many failures went unlogged since the last one, or how often it repeats."""
        if quiet_rounds:
            return f" ({quiet_rounds} more failed {unit} since the last warning)"
        return f", this warning repeats at most every {self.every_s:.0f} s"

    def log_success(self, log: logging.Logger, service: str) -> None:
        """After a round that worked: once, if rounds failed before it, say that `service` works again."""
        failed_rounds = self.succeeded()
        if failed_rounds:
            log.info("%s works again, after %d failed round(s)", service, failed_rounds)
