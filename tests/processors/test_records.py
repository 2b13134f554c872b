"""Reading call-events and event-requests records, and the dead-letter headers: tables, no Kafka."""

from __future__ import annotations

import pytest

from processors.handler import EventHandler, LeftBehind, apply_config, drop_foreign, lookup_packed
from processors.records import decode_event, decode_requests
from schemas.codec import decode, encode_list
from schemas.errors import InvalidRecord
from schemas.jobs import DeliveryJob
from schemas.join import unpack_requests
from schemas.letters import dead_letter_headers, fit_letter
from schemas.publisher import partition_for
from schemas.requests import ExtensionRequests
from schemas.settings import Settings
from tests.processors.support import call_event, request

EXT = "0003*210"
GOOD = call_event(EXT).model_dump_json().encode()


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (EXT.encode(), None, "invalid_json"),
        (EXT.encode(), b"\xff\xfe not json", "invalid_json"),
        (EXT.encode(), b"[1, 2]", "schema_invalid"),
        (EXT.encode(), b'{"type": "dial-in"}', "schema_invalid"),
        (EXT.encode(), GOOD.replace(b'"dial-in"', b'"ringing"'), "schema_invalid"),
        (EXT.encode(), GOOD.replace(b'"2026-11-27T10:00:00Z"', b'"9999-12-31T23:59:59-14:00"'), "schema_invalid"),
        (EXT.encode(), GOOD[:-1] + b',"pad":"' + b"x" * 2000 + b'"}', "too_large"),
        (b"0003*999", GOOD, "key_mismatch"),
        (b"not an extension", GOOD, "key_mismatch"),
    ],
)
def test_bad_event_records_are_refused_with_a_reason(key: bytes | None, value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        decode_event(key, value, max_bytes=1500)
    assert caught.value.reason == reason and caught.value.detail


@pytest.mark.parametrize("key", [EXT.encode(), b"0003210", b" 0003*210", None],
                         ids=["canonical", "extended", "spaced", "none"])
def test_a_good_event_record_decodes_under_any_form_of_its_extension(key: bytes | None) -> None:
    assert decode_event(key, GOOD, max_bytes=1500).extension == EXT


def test_dead_letter_headers_say_why_and_where_from() -> None:
    headers = dict(dead_letter_headers(InvalidRecord("too_large", "d" * 900), topic="t", partition=3, offset=17))
    assert headers == {
        "error": b"too_large", "error-detail": b"d" * 500, "original-topic": b"t",
        "original-partition": b"3", "original-offset": b"17",
    }


def test_config_records_set_replace_and_remove_table_entries() -> None:
    table: dict[bytes, bytes] = {}
    value = encode_list(ExtensionRequests, [request(EXT, "a"), request(EXT, "b", enabled=False)])
    assert apply_config(table, b"3*210", value, partition=1) == "set"  # keys are canonicalised
    assert [r.id for r in unpack_requests(lookup_packed(table, EXT.encode()))] == ["a"]
    disabled = encode_list(ExtensionRequests, [request(EXT, "a", enabled=False)])
    assert apply_config(table, EXT.encode(), disabled, partition=1) == "removed"
    assert table == {} and lookup_packed(table, EXT.encode()) is None
    assert apply_config(table, EXT.encode(), value, partition=1) == "set"
    assert apply_config(table, EXT.encode(), None, partition=1) == "removed" and table == {}
    assert apply_config(table, EXT.encode(), b"[]", partition=1) == "removed"


@pytest.mark.parametrize(("key", "value"), [(None, b"[]"), (b"nope", b"[]"), (EXT.encode(), b"{not json")])
def test_unreadable_config_records_leave_the_table_alone(key: bytes | None, value: bytes) -> None:
    table = {EXT.encode(): b"kept"}
    assert apply_config(table, key, value, partition=0) == "invalid"
    assert table == {EXT.encode(): b"kept"}


def test_entries_of_partitions_no_longer_owned_are_dropped() -> None:
    table: dict[bytes, bytes] = {}
    value = encode_list(ExtensionRequests, [request(EXT, "a")])
    for partition, ext in [(0, b"1*1"), (1, b"1*2"), (2, b"1*3"), (300, b"1*4")]:
        apply_config(table, ext, value, partition=partition)
    assert drop_foreign(table, {1, 300}) == 2
    assert sorted(table) == [b"0001*2", b"0001*4"]


OLD, HOME = 2, 1
MOVED = next(k for n in range(100, 400) if partition_for(k := f"0003*{n}".encode(), 3) == OLD
             and partition_for(k, 4) == HOME)
"""3 → 4 partitions moved this key from its OLD partition to its own (HOME)."""


def _list(rid: str) -> bytes:
    return encode_list(ExtensionRequests, [request(MOVED.decode(), rid)])


def _ids(table: dict[bytes, bytes], left: LeftBehind) -> list[str]:
    """The requests of an event of MOVED written on its old partition."""
    return [r.id for r in unpack_requests(lookup_packed(table, MOVED, left, OLD))]


@pytest.mark.parametrize("home_first", [True, False], ids=["home-first", "old-first"])
def test_the_copy_left_on_a_keys_old_partition_serves_when_the_worker_keeps_only_that_partition(
    home_first: bool,
) -> None:
    """A worker owning both partitions uses its own partition's list; a rebalance that takes that partition away
    and leaves the old one keeps the old copy for the events still written there, until the old one goes too."""
    table: dict[bytes, bytes] = {}
    left = LeftBehind(partitions=4)
    records = [(_list("new"), HOME), (_list("old"), OLD)]
    in_order = records if home_first else records[::-1]
    results = [apply_config(table, MOVED, value, partition=p, left=left) for value, p in in_order]
    assert sorted(results) == ["left_behind", "set"]
    assert _ids(table, left) == ["new"]
    assert drop_foreign(table, {0, OLD}, left) == 1
    assert _ids(table, left) == ["old"]
    drop_foreign(table, {0}, left)
    assert lookup_packed(table, MOVED, left, OLD) is None and left.copies == {}


def test_a_removal_on_the_old_partition_removes_only_the_old_copy_and_one_on_its_own_partition_both() -> None:
    table: dict[bytes, bytes] = {}
    left = LeftBehind(partitions=4)
    for value, partition in [(_list("new"), HOME), (_list("old"), OLD), (None, OLD)]:
        apply_config(table, MOVED, value, partition=partition, left=left)
    assert _ids(table, left) == ["new"] and left.copies == {}
    apply_config(table, MOVED, _list("old"), partition=OLD, left=left)
    assert apply_config(table, MOVED, None, partition=HOME, left=left) == "removed"
    assert lookup_packed(table, MOVED, left, OLD) is None and left.copies == {}  # the old copy is stale: not used


def test_an_old_copy_read_after_its_own_partitions_removal_goes_once_the_recovery_ends() -> None:
    """Partitions are read in any order: the removal on the key's own partition may come before the old copy."""
    table: dict[bytes, bytes] = {}
    left = LeftBehind(partitions=4)
    apply_config(table, MOVED, None, partition=HOME, left=left)
    apply_config(table, MOVED, _list("old"), partition=OLD, left=left)
    drop_foreign(table, {HOME, OLD}, left)
    assert lookup_packed(table, MOVED, left, OLD) is None and left.copies == {}


def test_only_records_off_their_keys_partition_are_kept_aside() -> None:
    """A worker owning only the old partition keeps the old copy; lists on their own partition stay in the table."""
    table: dict[bytes, bytes] = {}
    left = LeftBehind(partitions=4)
    stays = next(k for n in range(100, 400) if partition_for(k := f"0003*{n}".encode(), 4) == OLD)
    apply_config(table, stays, encode_list(ExtensionRequests, [request(stays.decode(), "a")]), partition=OLD, left=left)
    assert list(table) == [stays] and left.copies == {}
    assert apply_config(table, MOVED, _list("old"), partition=OLD, left=left) == "left_behind"
    assert drop_foreign(table, {OLD}, left) == 0
    assert _ids(table, left) == ["old"] and list(table) == [stays]


TWICE = next(k for n in range(100, 5000) if partition_for(k := f"0003*{n}".encode(), 3)
             != partition_for(k, 6) != partition_for(k, 12))
"""3 → 6 → 12 partitions moved this key twice: a list is left on each of its two old partitions."""
FIRST, SECOND, OWN = (partition_for(TWICE, count) for count in (3, 6, 12))
LISTS = [("first", FIRST), ("second", SECOND), ("own", OWN)]
"""Its list before the first growth, the first growth's resync, the second's: each on its partition of the time."""


def _joined(table: dict[bytes, bytes], left: LeftBehind, partition: int) -> list[str]:
    """The requests the jobs of an event of TWICE read on `partition` of call-events go to."""
    handler = EventHandler(topics=Settings().topics, max_event_bytes=1500, partitions=left.partitions,
                           lookup=lambda key, at: lookup_packed(table, key, left, at))
    outcome = handler.outcome(TWICE, call_event(TWICE.decode()).model_dump_json().encode(), partition=partition,
                              offset=0, timestamp_s=None)
    return [decode(DeliveryJob, record.value or b"").request_id for record in outcome.records]


def _read_twice_moved(order: list[tuple[str, int]] = LISTS) -> tuple[dict[bytes, bytes], LeftBehind]:
    table: dict[bytes, bytes] = {}
    left = LeftBehind(partitions=12)
    for rid, partition in order:
        apply_config(table, TWICE, encode_list(ExtensionRequests, [request(TWICE.decode(), rid)]),
                     partition=partition, left=left)
    return table, left


@pytest.mark.parametrize("order", [LISTS, LISTS[::-1]], ids=["in-order", "reversed"])
@pytest.mark.parametrize("kept", [FIRST, SECOND], ids=["first-kept", "second-kept"])
def test_after_two_growths_a_rebalance_keeping_one_old_partition_keeps_its_copy(
    order: list[tuple[str, int]], kept: int,
) -> None:
    """A worker that read all three partitions, then kept one old partition only, joins the events still written
    there with that partition's copy. Holding one copy per extension (the last read), it dropped it with the other old
    partition and these events made no job."""
    table, left = _read_twice_moved(order)
    assert [_joined(table, left, p) for p in (FIRST, SECOND, OWN)] == [["own"]] * 3  # the own list while held
    assert left.count() == 2
    drop_foreign(table, {kept}, left)
    assert table == {} and left.count() == 1
    assert _joined(table, left, kept) == [dict((p, rid) for rid, p in LISTS)[kept]]


@pytest.mark.parametrize("removal", [None, b"[]"], ids=["tombstone", "empty-list"])
@pytest.mark.parametrize("order", [LISTS, LISTS[::-1]], ids=["in-order", "reversed"])
def test_a_removal_on_one_old_partition_ends_only_its_copy(order: list[tuple[str, int]], removal: bytes | None) -> None:
    """As `topics forget-old-copies` writes it (on one partition): the copy on the other old partition still serves
    the events written there."""
    table, left = _read_twice_moved(order)
    assert apply_config(table, TWICE, removal, partition=FIRST, left=left) == "left_behind"
    drop_foreign(table, {FIRST, SECOND}, left)
    assert left.count() == 1
    assert _joined(table, left, FIRST) == [] and _joined(table, left, SECOND) == ["second"]


def test_a_removal_on_its_own_partition_ends_every_old_copy() -> None:
    table, left = _read_twice_moved()
    assert apply_config(table, TWICE, None, partition=OWN, left=left) == "removed"
    assert table == {} and left.copies == {} and left.count() == 0


def test_decode_requests_reads_a_tombstone_as_no_requests() -> None:
    assert decode_requests(EXT.encode(), None) == (EXT.encode(), [])


@pytest.mark.parametrize(
    ("key", "value", "kept", "headers"),
    [
        (b"k" * 10, b"v" * 90, (10, 90), []),
        (b"k" * 10, b"v" * 91, (10, 90), [("original-value-size", b"91")]),
        (None, b"v" * 500, (0, 100), [("original-value-size", b"500")]),
        (b"k" * 2000, None, (100, 0), [("original-key-size", b"2000")]),
        (b"k" * 2000, b"v" * 50, (100, 0), [("original-key-size", b"2000"), ("original-value-size", b"50")]),
    ],
    ids=["fits", "value-cut", "no-key", "key-cut", "both-cut"],
)
def test_a_letter_larger_than_the_cap_is_cut_and_says_how_large_it_was(
    key: bytes | None, value: bytes | None, kept: tuple[int, int], headers: list[tuple[str, bytes]],
) -> None:
    cut_key, cut_value, cut_headers = fit_letter(key, value, max_bytes=100)
    assert (len(cut_key or b""), len(cut_value or b"")) == kept
    assert cut_headers == headers
    assert (key or b"").startswith(cut_key or b"") and (value or b"").startswith(cut_value or b"")
