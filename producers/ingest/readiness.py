"""Whether the ingest can write to Kafka, answered from a recent verdict so a probe rarely costs a round trip.

An acknowledged send proves it; otherwise a bounded metadata request decides (Kafka answers, and lists the
call-events topic), and its verdict answers the probes of the next `fresh_s` seconds. A send Kafka did not
acknowledge voids the verdict, so the next probe asks Kafka again instead of trusting a verdict from before
the failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Verdict:
    fresh_s: float
    reachable: bool = False
    at_s: float = -math.inf

    def current(self, now_s: float) -> bool | None:
        """The verdict while it is fresh; None when Kafka must be asked."""
        return self.reachable if now_s < self.at_s + self.fresh_s else None

    def record(self, reachable: bool, now_s: float) -> None:
        self.reachable = reachable
        self.at_s = now_s

    def void(self) -> None:
        self.at_s = -math.inf
