"""Parameters sent more than once (Control API and ingest): a client that repeats one (a query string built by
appending, a form merged from two sources) would have whichever copy the framework keeps. Both refuse them
instead of guessing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def repeated(items: Iterable[tuple[str, object]], names: Iterable[str] | None = None) -> list[str]:
    """The names of `items` (name, value pairs) that occur more than once, sorted; only those in `names` if given."""
    counts = Counter(name for name, _ in items)
    wanted = set(counts) if names is None else set(names)
    return sorted(name for name, count in counts.items() if count > 1 and name in wanted)


def said_once(names: list[str]) -> str:
    """`count is` / `count, type are` … sent more than once."""
    return f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} sent more than once: send each parameter once"
