"""Dead letters as other tools may have written them, read from real Kafka by `dlq list`'s reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from delivery.dlq import Filters, dead_letters, parse_letter
from schemas.codec import encode
from schemas.durations import parse_when
from schemas.settings import Settings
from tests.delivery.jobs import make_job
from tests.kafka import produce


async def test_letters_with_null_or_binary_headers_and_no_value_are_listed(settings: Settings) -> None:
    job = make_job("http://127.0.0.1:9/hook", request_id="listed")
    topic = settings.topics.deliveries_dlq
    await produce(settings, topic, [("0003*210", b"{not json")], headers=[("error", None)])  # type: ignore[list-item]
    await produce(settings, topic, [("0003*210", None)], headers=[("error", b"\xff\xfe")])
    await produce(settings, topic, [("0003*210", encode(job))])
    letters = [x async for chunk in dead_letters(settings, Filters(), progress=lambda read, total: None)
               for x in chunk]
    assert [(x.job.job_id if x.job else None) for x in letters] == [None, None, job.job_id]
    assert [x.error for x in letters[:2]] == ["invalid_json", "\ufffd\ufffd"]


def test_an_unreadable_letter_keeps_its_error_header() -> None:
    at_ms = int(datetime(2026, 11, 27, tzinfo=UTC).timestamp() * 1000)
    letter = parse_letter(0, 5, at_ms, b"{", [("error", b"invalid_json"), ("error-detail", b"line 1")])
    assert (letter.job, letter.error, letter.where) == (None, "invalid_json", "0:5")


def test_a_filter_names_what_a_matching_letter_must_contain() -> None:
    assert Filters(job_id="msg_1", extension="0003210", request_id="r1").needles() == [b"msg_1", b"r1", b"0003*210"]
    assert Filters(tenant="0003").needles() == []  # a tenant is matched on the parsed job only


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "moment"), [
    ("2h", NOW - timedelta(hours=2)),
    ("90m", NOW - timedelta(minutes=90)),
    ("0s", NOW),
    ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
    ("2026-11-27T12:00:00+02:00", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
])
def test_a_time_filter_is_an_iso_time_or_a_duration_ago(text: str, moment: datetime) -> None:
    assert parse_when(text, now=NOW) == moment


def test_a_time_filter_that_is_neither_says_which_forms_it_takes() -> None:
    with pytest.raises(ValueError, match="neither a time like 2026-11-27T10:00:00Z nor a duration ago like 2h"):
        parse_when("yesterday", now=NOW)
    with pytest.raises(ValueError, match=r"needs a time zone, e\.g\. 2026-11-27T10:00:00Z for UTC"):
        parse_when("2026-11-27T10:00:00", now=NOW)  # refused, not guessed: a redrive sends again
