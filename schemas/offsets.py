"""Which offset of a partition is safe to commit while many of its jobs run at once (pure).

Jobs start in offset order and finish in any order. The committable offset is the lowest job not yet
finished, or one past the highest started job when all are finished, so a crash repeats work but never
skips it.
"""

from __future__ import annotations

import heapq


class OffsetTracker:
    def __init__(self, start: int | None = None) -> None:
        """`start`: the offset already committed, when known (committable until a job starts)."""
        self._pending: list[int] = []
        self._finished: set[int] = set()
        self._next = start
        self._committed = start

    def start(self, offset: int) -> None:
        if self._next is not None and offset < self._next:
            raise ValueError(f"offset {offset} started after {self._next - 1}: jobs must start in order")
        heapq.heappush(self._pending, offset)
        self._next = offset + 1

    def finish(self, offset: int) -> None:
        self._finished.add(offset)
        while self._pending and self._pending[0] in self._finished:
            self._finished.discard(heapq.heappop(self._pending))

    @property
    def next_offset(self) -> int | None:
        """One past the highest started job (`start` before any)."""
        return self._next

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def committable(self) -> int | None:
        """The offset to commit (the next record to read after a restart), or None when nothing started."""
        if self._pending:
            return self._pending[0]
        return self._next

    def to_commit(self) -> int | None:
        """The committable offset when it moved since the last `mark_committed`."""
        offset = self.committable()
        return offset if offset is not None and offset != self._committed else None

    def mark_committed(self, offset: int) -> None:
        self._committed = offset
