"""Durations and times written the way operators write them: `5s`, `30s`, `2m`, `1h`, `1d`; `2026-11-27T10:00:00Z`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration_s(text: str) -> float:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 500ms, 5s, 2m, 1h or 1d")
    return float(match.group(1)) * _UNITS_S[match.group(2)]


def format_duration(seconds: float) -> str:
    """The shortest exact label: 5 → `5s`, 120 → `2m`, 10800 → `3h`, 0.5 → `500ms`."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS_S[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


def parse_when(text: str, *, now: datetime) -> datetime:
    """A moment for --since/--until: a duration ago (`90m`, `2h`, `1d`) or an ISO 8601 time with a zone. A time
    without one is refused rather than guessed: replays and redrives send notifications again."""
    value = text.strip()
    try:
        return now - timedelta(seconds=parse_duration_s(value))
    except ValueError:
        pass
    except OverflowError:  # more days ago than a date can hold (year 1)
        raise ValueError(f"{text!r} reaches back before the year 1: give a shorter duration, or a time such as "
                         "2026-11-27T10:00:00Z") from None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a time like 2026-11-27T10:00:00Z nor a duration ago like 2h") from None
    if moment.tzinfo is None:  # the example is written out in full: Python drops a zone after a date alone
        raise ValueError(f"{text!r} needs a time zone, e.g. {moment.isoformat()}Z for UTC")
    return moment.astimezone(UTC)
