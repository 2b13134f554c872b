"""`callapi-events dlq events`: the call events the processor dead-lettered, listed, shown and put back."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from aiokafka import ConsumerRecord

from processors.event_letters import EventLetterFilters, parse_event_letter
from schemas.codec import encode
from schemas.events import EventType
from schemas.settings import Settings
from tests.kafka import produce, read_topic_sync
from tests.processes import settings_env
from tests.processors.support import call_event, produce_config, produce_events, read_jobs, request
from tests.services import Service

A = "0404*100"
B = "0405*200"
CONFIG_SET = 'callapi_processor_config_records_total{result="set"}'
SMALL_EVENTS = {"CALLAPI_MAX_EVENT_BYTES": "1024"}


def _cli(settings: Settings, *args: str, code: int = 0) -> str:
    done = subprocess.run([sys.executable, "-m", "callapi_events", "dlq", "events", *args],
                          env=settings_env(settings), capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    return " ".join((done.stdout + done.stderr).split())  # the console wraps long lines


def _json(settings: Settings, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "callapi_events", "dlq", "events", *args],
                          env=settings_env(settings), capture_output=True, text=True, timeout=120, check=True).stdout


def _listed(settings: Settings, *filters: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in _json(settings, "list", "--json", *filters).splitlines()]


def test_letters_are_listed_filtered_shown_and_redriven_once_the_cause_is_fixed(settings: Settings) -> None:
    produce_config(settings, {A: [request(A, "rA", EventType.DIAL_IN)], B: [request(B, "rB", EventType.DIAL_IN)]})
    large = call_event(A).model_copy(update={"CallerIDName": "x" * 1_000})  # more than the processor below takes
    unknown_type = encode(call_event(B)).replace(b'"dial-in"', b'"ringing"')
    after = call_event(A)
    with Service(settings, "processor", env=SMALL_EVENTS) as processor:
        processor.wait_metric(CONFIG_SET, 2)
        produce_events(settings, [large])
        asyncio.run(produce(settings, settings.topics.call_events, [(B, unknown_type)]))
        produce_events(settings, [after])
        read_jobs(settings, lambda jobs: any(job.event_id == after.event_id for job in jobs))
        read_topic_sync(settings, settings.topics.call_events_dlq, count=2)

    listed = _listed(settings)
    assert sorted(str(letter["reason"]) for letter in listed) == ["schema_invalid", "too_large"]
    (too_large,) = _listed(settings, "--reason", "too_large")
    assert too_large["extension"] == A and too_large["event_id"] == large.event_id and too_large["cut"] is False
    assert too_large["redriven_at"] is None
    (invalid,) = _listed(settings, "--tenant", "405")
    assert invalid["reason"] == "schema_invalid" and invalid["extension"] == B and invalid["event_id"] is None
    assert _listed(settings, "--extension", "0404100", "--reason", "schema_invalid") == []
    piped = _cli(settings, "list")  # not a terminal: the rows are printed whole, event ids included
    assert "2 dead letter(s), 2 not redriven yet" in piped and large.event_id in piped
    assert "`callapi-events dlq events redrive --yes` puts them back" in piped  # no filter: redrive wants --yes
    assert "redrive` with the same filters puts them back" in _cli(settings, "list", "--reason", "too_large")

    letter = json.loads(_json(settings, "show", str(too_large["where"])))
    assert letter["key"] == A and letter["value"]["event_id"] == large.event_id
    assert letter["came_from"].startswith(settings.topics.call_events + " ")

    # The fix: a processor that takes larger events. The redriven event is joined as it was.
    with Service(settings, "processor") as processor:
        assert "1 event(s) back on call-events" in _cli(settings, "redrive", "--reason", "too_large")
        jobs = read_jobs(settings, lambda jobs: any(job.event_id == large.event_id for job in jobs))
        (job,) = [job for job in jobs if job.event_id == large.event_id]
        assert job.request_id == "rA" and job.params["CallerIDName"] == "x" * 1_000
        assert processor.metric('callapi_processor_events_total{result="joined"}') >= 1

    (too_large,) = _listed(settings, "--reason", "too_large")
    assert too_large["redriven_at"] is not None
    assert json.loads(_json(settings, "show", str(too_large["where"])))["redriven_at"] == too_large["redriven_at"]
    twice = _cli(settings, "redrive", "--reason", "too_large")  # already redriven: nothing is sent
    assert "0 event(s) back on call-events" in twice and "1 redriven before" in twice
    assert "1 event(s) back on call-events" in _cli(settings, "redrive", "--reason", "too_large", "--again")


def test_show_prints_a_value_that_is_not_json_as_its_text_and_one_that_is_not_utf8_as_base64(
    settings: Settings,
) -> None:
    sent = [(b"CallID=c1&CallFlow=IN", {"value_text": "CallID=c1&CallFlow=IN"}),
            (b"\xff\xfe", {"value_base64": "//4="})]
    for value, _ in sent:
        asyncio.run(produce(settings, settings.topics.call_events_dlq, [("0406*300", value)],
                            headers=[("error", b"invalid_json")]))
    listed = _listed(settings, "--extension", "0406*300")
    assert len(listed) == len(sent)
    for letter, (_, shown) in zip(listed, sent, strict=True):
        value = {name: text for name, text in json.loads(_json(settings, "show", str(letter["where"]))).items()
                 if name.startswith("value")}
        assert value == shown  # an operator reads what the producer sent, not its base64


def test_a_letter_cut_to_fit_the_dlq_is_never_redriven(settings: Settings) -> None:
    cut = [("original-value-size", b"2000000"), ("error", b"too_large"), ("original-topic", b"call-events")]
    asyncio.run(produce(settings, settings.topics.call_events_dlq, [(A, b'{"event_id": "cut-off')], headers=cut))
    said = _cli(settings, "redrive", "--extension", A, "--since", "1h")
    assert "0 event(s) back on call-events; 1 cut to fit the DLQ, skipped" in said


def test_redrive_without_a_filter_and_bad_filters_are_refused(settings: Settings) -> None:
    assert "No filter given" in _cli(settings, "redrive", code=2)
    assert "extension 'nope'" in _cli(settings, "list", "--extension", "nope", code=2)
    assert "--reason 'invalid-json' is none of invalid_json," in _cli(settings, "list", "--reason", "invalid-json",
                                                                      code=2)
    assert "needs a time zone" in _cli(settings, "list", "--since", "2026-11-27T10:00:00", code=2)
    assert "is not before --until" in _cli(settings, "redrive", "--since", "1h", "--until", "2h", code=2)
    assert "No dead letter at 9:999" in _cli(settings, "show", "9:999", code=1)
    assert "No dead letter at 0:999999" in _cli(settings, "show", "0:999999", code=1)
    assert "'three' is not PARTITION:OFFSET" in _cli(settings, "show", "three", code=2)
    no_db = settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:1/none"})
    asyncio.run(produce(settings, settings.topics.call_events_dlq, [(B, encode(call_event(B)))],
                        headers=[("error", b"processing_error")]))
    listed = _listed(no_db, "--reason", "processing_error")  # stdout holds only the JSON lines
    assert [(letter["reason"], letter["redriven_at"]) for letter in listed] == [("processing_error", None)]
    assert "which letters were redriven is not shown" in _cli(no_db, "list", "--json")
    assert "PostgreSQL is unreachable" in _cli(no_db, "redrive", "--reason", "processing_error", code=1)
    no_kafka = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    assert "Cannot reach Kafka at 127.0.0.1:1" in _cli(no_kafka, "list", code=1)
    missing = settings.model_copy(update={"topic_prefix": "missing.nowhere."})
    assert "does not exist" in _cli(missing, "list", code=1)


def _record(headers: list[tuple[str, bytes]], key: bytes | None, value: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic="call-events.dlq", partition=3, offset=7, timestamp=1_764_237_600_000,
                          timestamp_type=0, key=key, value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=0, headers=headers)


def test_a_letter_is_read_from_its_headers_and_its_key_when_its_value_is_not_an_event() -> None:
    headers = [("error", b"invalid_json"), ("error-detail", b"not JSON"), ("original-topic", b"p.call-events"),
               ("original-partition", b"3"), ("original-offset", b"41")]
    letter = parse_event_letter(_record(headers, b"0404100", b"{oops"))
    assert (letter.reason, letter.detail, letter.came_from) == ("invalid_json", "not JSON", "p.call-events 3:41")
    assert letter.extension == A and letter.event_id is None and not letter.cut and letter.where == "3:7"
    assert EventLetterFilters(tenant="404").match(letter) and not EventLetterFilters(tenant="405").match(letter)
    assert EventLetterFilters(extension="0404*100", reason="invalid_json").match(letter)
    assert not EventLetterFilters(reason="too_large").match(letter)
    tombstone = parse_event_letter(_record([("error", b"invalid_json")], None, None))
    assert tombstone.extension is None and tombstone.value is None and tombstone.came_from == "?:?"
    assert not EventLetterFilters(tenant="404").match(tombstone)
    assert letter.identity != tombstone.identity
