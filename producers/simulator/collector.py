"""Python's garbage collector set for a run that sends simulated events (simulate, demo, the benchmarks' load).

At 20,000 events/s thousands of records are in flight: with the default thresholds they outlived young
collections, were promoted and walked again in full collections over the warm-up's objects, ~40 % of a run's
time (2.8 of 7 s for 60,000 events). Collected less often, most die young: at 20,000 allocations young
collections still took ~0.6 s of such a run, at 50,000 ~0.05 s. The warm-up's calls in progress (~500,000
objects at 20,000 events/s) live on through the run: frozen, full collections no longer walk them.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (Python's default: 700)


@contextlib.contextmanager
def sending_collector() -> Iterator[Callable[[], None]]:
    """Young collections less often until the block ends, then the collector as it was (a benchmark goes on in
    the same process). The callable it gives, `warmed_up`, freezes every object that exists: call it once the
    run's long-lived objects (its Timeline, the events it keeps) are built, before sending starts."""
    before = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *before[1:])
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
