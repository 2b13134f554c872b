"""Python's garbage collector set for work that allocates many short-lived objects: young collections less
often, and the long-lived objects frozen out of the full collections. Each user keeps its measured threshold.

- The delivery worker (`deliver`, and the benchmarks that run it in this process), for the process's lifetime:
  `collect_less_often(DELIVERY_YOUNG_THRESHOLD)` once started. A job's objects die young and form no cycles,
  yet each job allocates enough to run a young collection every few jobs: at 20,000 it did ~7 % more jobs/s,
  and the start-up objects frozen stay out of the full collections.
- A run that sends simulated events (simulate, demo, the benchmarks' load), restored afterwards (a benchmark
  goes on in the same process): `with collecting_less_often(SENDING_YOUNG_THRESHOLD) as warmed_up`. At 20,000
  events/s thousands of records are in flight: with the default thresholds they outlived young collections,
  were promoted and walked again in full collections over the warm-up's objects, ~40 % of a run's time (2.8 of
  7 s for 60,000 events). Collected less often, most die young: at 20,000 allocations young collections still
  took ~0.6 s of such a run, at 50,000 ~0.05 s. The warm-up's calls in progress (~500,000 objects at 20,000
  events/s) live on through the run: frozen, full collections no longer walk them.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

# allocations between young collections (Python's default: 700)
DELIVERY_YOUNG_THRESHOLD = 20_000
SENDING_YOUNG_THRESHOLD = 50_000


def collect_less_often(young_threshold: int) -> None:
    """For the rest of the process: every object that exists now is frozen (call it once started up), and a
    young collection runs every `young_threshold` allocations."""
    gc.freeze()
    gc.set_threshold(young_threshold, *gc.get_threshold()[1:])


@contextlib.contextmanager
def collecting_less_often(young_threshold: int) -> Iterator[Callable[[], None]]:
    """A young collection every `young_threshold` allocations until the block ends, then the collector as it was.
    The callable it gives, `warmed_up`, freezes every object that exists: call it once the run's long-lived
    objects (its Timeline, the events it keeps) are built, before sending starts."""
    before = gc.get_threshold()
    gc.set_threshold(young_threshold, *before[1:])
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
