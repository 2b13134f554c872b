"""Which replay filter values the current config knows: tables, no Kafka."""

from __future__ import annotations

from processors.replay_check import ConfigSeen, refusal
from processors.window import ReplayFilter
from tests.processors.support import request

X = "0303*100"


def _seen(wanted: ReplayFilter, *records: list) -> ConfigSeen:
    seen = ConfigSeen(wanted)
    for requests in records:
        seen.note(X, requests)
    return seen


def test_the_latest_record_of_an_extension_decides() -> None:
    wanted = ReplayFilter.of(tenants=[], extensions=[], request_ids=["r1"])
    assert refusal(_seen(wanted, [request(X, "r1")]), from_deliveries=False) is None
    removed = refusal(_seen(wanted, [request(X, "r1")], [request(X, "r2")]), from_deliveries=False)
    assert removed is not None and "--request-id r1 matches no request." in removed
    emptied = refusal(_seen(ReplayFilter.of(tenants=[], extensions=[X], request_ids=[]), [request(X, "r1")], []),
                      from_deliveries=True)
    assert emptied is not None and f"), --extension {X} has no requests." in emptied


def test_only_the_wanted_request_ids_are_kept() -> None:
    seen = _seen(ReplayFilter.of(tenants=[], extensions=[], request_ids=["r1"]), [request(X, "r2")])
    assert seen.extensions == {}


def test_a_request_enabled_on_one_extension_is_not_called_disabled() -> None:
    wanted = ReplayFilter.of(tenants=["303"], extensions=[], request_ids=["r1"])
    seen = ConfigSeen(wanted)
    seen.note(X, [request(X, "r1", enabled=False)])
    seen.note("0303*200", [request("0303*200", "r1")])
    assert refusal(seen, from_deliveries=False) is None


def test_every_value_that_names_nothing_is_named_at_once() -> None:
    wanted = ReplayFilter.of(tenants=["3", "0303"], extensions=[X, "0303*9"], request_ids=[])
    said = refusal(_seen(wanted, [request(X, "r1")]), from_deliveries=False)
    assert said is not None
    assert said.startswith("in the current config (event-requests), --extension 0303*9 has no requests; --tenant 3 "
                           "has no extension with requests among the --extension values. Nothing was replayed")
