"""A circuit breaker per destination (pure state machine; the clock is an argument).

closed ──(threshold consecutive failures)──► open ──(open_s passed)──► half-open: one probe goes out
   ▲                                           ▲                             │
   └──────────────(probe succeeds)─────────────┼─────────(probe fails)───────┘
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_TRACKED = 10_000
"""At this many destinations, healthy ones are forgotten (a new circuit starts closed anyway); if too many are
failing for that to make room, the least recently asked about are forgotten too, down to EVICT_TO of it."""
EVICT_TO = 0.9
"""A tenth of the room is made at once, so the sort that picks whom to forget runs once per so many new hosts."""
IDLE_OPEN_WINDOWS = 10
"""An open circuit no job asked about for this many open windows is not counted as open: its destination has
no jobs left (they come back about once a window while it is open)."""


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class Circuit:
    failure_threshold: int
    open_s: float
    state: State = State.CLOSED
    failures: int = 0
    opened_at_s: float = 0.0
    asked_at_s: float = 0.0

    def allow(self, now_s: float) -> bool:
        """May an attempt go out now? In half-open only the single probe may."""
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN and now_s - self.opened_at_s >= self.open_s:
            self.state = State.HALF_OPEN
            return True
        return False

    def remaining_open_s(self, now_s: float) -> float:
        """How long the circuit stays open before the next probe may go out (0 unless open)."""
        if self.state is not State.OPEN:
            return 0.0
        return max(0.0, self.opened_at_s + self.open_s - now_s)

    def record_success(self) -> None:
        self.state, self.failures = State.CLOSED, 0

    def record_failure(self, now_s: float) -> None:
        self.failures += 1
        if self.state is State.HALF_OPEN or self.failures >= self.failure_threshold:
            self.state, self.opened_at_s = State.OPEN, now_s

    def release_probe(self, now_s: float) -> None:
        """The probe never went out (no outcome): let the next job probe instead of waiting forever."""
        if self.state is State.HALF_OPEN:
            self.state, self.opened_at_s = State.OPEN, now_s - self.open_s


class Circuits:
    """One circuit per destination key (scheme://host:port)."""

    def __init__(self, *, failure_threshold: int, open_s: float, max_tracked: int = MAX_TRACKED) -> None:
        self._failure_threshold = failure_threshold
        self._open_s = open_s
        self._max_tracked = max_tracked
        self._circuits: dict[str, Circuit] = {}

    def __len__(self) -> int:
        return len(self._circuits)

    def get(self, key: str, *, now_s: float) -> Circuit:
        circuit = self._circuits.get(key)
        if circuit is None:
            if len(self._circuits) >= self._max_tracked:
                self._make_room()
            circuit = self._circuits[key] = Circuit(self._failure_threshold, self._open_s)
        circuit.asked_at_s = now_s
        return circuit

    def open_count(self, now_s: float) -> int:
        """Circuits open or half-open that jobs still ask about."""
        idle_s = IDLE_OPEN_WINDOWS * self._open_s
        return sum(1 for c in self._circuits.values() if c.state is not State.CLOSED and now_s - c.asked_at_s < idle_s)

    def _make_room(self) -> None:
        """Forget healthy circuits, then, with many destinations failing, the least recently asked about: a
        forgotten open circuit only means that its destination's next job probes it again."""
        self.forget_closed()
        if len(self._circuits) >= self._max_tracked:
            keep = int(self._max_tracked * EVICT_TO)
            recent = sorted(self._circuits.items(), key=lambda item: item[1].asked_at_s)[-keep:] if keep else []
            self._circuits = dict(recent)

    def forget_closed(self) -> None:
        """Drop closed circuits with no failures, so the map does not grow with every host ever seen."""
        self._circuits = {k: c for k, c in self._circuits.items() if c.state is not State.CLOSED or c.failures}
