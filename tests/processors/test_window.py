"""Replay windows and filters: tables, no Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from processors.errors import ReplayError
from processors.window import ReplayFilter, Window, parse_when

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27T12:00:00+02:00", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2h", NOW - timedelta(hours=2)),
        ("90m", NOW - timedelta(minutes=90)),
        ("0s", NOW),
    ],
)
def test_times_are_iso_or_a_duration_ago(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-11-27T10:00:00", "-5m"])
def test_unreadable_times_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(ReplayError):
        parse_when(text, now=NOW)


def test_a_window_is_half_open_and_never_empty() -> None:
    window = Window(NOW - timedelta(seconds=1), NOW)
    assert window.contains_ms(window.since_ms) and not window.contains_ms(window.until_ms)
    with pytest.raises(ReplayError, match="empty"):
        Window(NOW, NOW)


@pytest.mark.parametrize(
    ("tenants", "extensions", "extension", "wanted"),
    [
        ([], [], "0003*210", True),
        (["3"], [], "0003*210", True),
        (["0003"], [], "0004*210", False),
        ([], ["0003210"], "0003*210", True),
        ([], ["0003*211"], "0003*210", False),
        (["0003"], ["0003*210", "0004*1"], "0004*1", False),
    ],
)
def test_filters_select_by_tenant_and_extension(
    tenants: list[str], extensions: list[str], extension: str, wanted: bool,
) -> None:
    flt = ReplayFilter.of(tenants=tenants, extensions=extensions, request_ids=[])
    assert flt.wants_extension(extension) is wanted


def test_request_filter_and_bad_extensions() -> None:
    flt = ReplayFilter.of(tenants=[], extensions=[], request_ids=["a", "b"])
    assert flt.wants_request("a") and not flt.wants_request("c")
    assert ReplayFilter().wants_request("anything")
    with pytest.raises(ReplayError):
        ReplayFilter.of(tenants=[], extensions=["not-an-extension"], request_ids=[])
