"""X-CallAPI-Sequence from an event's offset and the partition count it was placed by (schemas/sequence.py)."""

from __future__ import annotations

import pytest

from schemas.sequence import OFFSET_SPAN, partitions_header, placed_by, sequence_of


@pytest.mark.parametrize(("headers", "placed"), [
    (partitions_header(6), 6),
    ([("traceparent", b"00-ab"), ("partitions", b"24")], 24),
    (None, 12),
    ([], 12),
    ([("partitions", b"")], 12),
    ([("partitions", b"0")], 12),
    ([("partitions", b"-3")], 12),
    ([("partitions", b"six")], 12),
    ([("partitions", "٣".encode())], 12),  # an Arabic-Indic three: not ASCII digits
    ([("Partitions", b"6")], 12),  # header names are matched exactly, as the SDK writes them
])
def test_the_count_is_the_partitions_header_or_the_topics(
    headers: list[tuple[str, bytes]] | None, placed: int,
) -> None:
    assert placed_by(headers, 12) == placed


def test_an_event_placed_after_partitions_were_added_comes_later_whatever_the_offsets() -> None:
    before = sequence_of(OFFSET_SPAN - 1, 3)  # the old partition's last possible offset
    after = sequence_of(0, 6)  # the new partition's first
    assert sequence_of(0, 3) < sequence_of(1, 3) < before < after < sequence_of(1, 6)
    assert sequence_of(123, 9_007) < 2**53  # still an exact number in JavaScript
