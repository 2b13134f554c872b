"""A warning that may come on every request, logged at most once per interval, saying how many it held back.

`Occasionally` is the pure policy (the clock is an argument); each caller words its own line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Occasionally:
    """Call `due` at each occurrence: whether to log it now, and how many occurrences were held back since the last
    line."""

    interval_s: float = 60.0
    _next_at: float = -math.inf
    _held: int = 0

    def due(self, now: float) -> int | None:
        """None: stay quiet (a line was logged less than `interval_s` ago; this occurrence is counted). Otherwise log
        now: the number is how many occurrences were held back since the last line (0 for none)."""
        if now < self._next_at:
            self._held += 1
            return None
        held, self._held, self._next_at = self._held, 0, now + self.interval_s
        return held
