"""`callapi-events probe`: one event through the real pipeline (relay, processor, worker, sink), followed to each
URL in the delivery log."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime

import psycopg
import pytest

from control.service import add_request, create_extension, create_organization, create_provider
from producers.probe import PROBE_CALLER, owed
from schemas.events import EventType
from schemas.requests import EventRequest, HttpMethod
from schemas.settings import Settings
from schemas.synthetic import synthetic_event
from tests.faults.harness import free_tenant_base
from tests.processes import settings_env
from tests.receiver import Receiver
from tests.services import Service


def _probe(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callapi_events", "probe", *args], env=settings_env(settings),
                          capture_output=True, text=True, timeout=180)


def test_a_probe_is_followed_to_each_url_and_fails_while_one_is_not_delivered(
    settings: Settings, receiver: Receiver,
) -> None:
    code = f"{free_tenant_base(settings.database_url, 1):04d}"
    receiver.script("/gone", then=410)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        org = create_organization(conn, create_provider(conn, "probe").id, code, "probe")
        extension = create_extension(conn, org.id, "210")
        add_request(conn, settings, extension, {"type": 0, "method": 1, "url": f"{receiver.url}/ok"})
        add_request(conn, settings, extension, {"type": 0, "method": 0, "url": f"{receiver.url}/gone"})
        add_request(conn, settings, extension, {"type": 0, "status": 0, "url": f"{receiver.url}/disabled"})
        add_request(conn, settings, extension, {"type": 2, "url": f"{receiver.url}/hangup"})
    with Service(settings, "relay"), Service(settings, "processor") as processor, Service(settings, "deliver"), \
            Service(settings, "sink"):
        processor.wait_metric("callapi_processor_table_extensions", 1)

        first = _probe(settings, f"{code}210", "--json")
        assert first.returncode == 1, first.stdout + first.stderr  # /gone answered 410
        result = json.loads(first.stdout)
        assert result["extension"] == f"{code}*210" and result["delivered"] is False and not result["timed_out"]
        outcomes = {job["url"].rsplit("/", 1)[1]: job["outcome"] for job in result["jobs"]}
        assert outcomes == {"ok": "delivered", "gone": "disabled"}  # not the disabled request, not hangup
        (ok,) = [job for job in result["jobs"] if job["outcome"] == "delivered"]
        assert ok["delivered_after_s"] > 0 and [a["status_code"] for a in ok["attempts"]] == [204]
        (sent,) = receiver.received("/ok")
        assert sent.params["CallerIDName"] == PROBE_CALLER and sent.params["CallID"].startswith("probe.")
        assert sent.headers["webhook-id"] == ok["job_id"]

        second = _probe(settings, f"{code}*210")  # 410 disabled /gone: only /ok is owed now
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.splitlines()[-1] == "Delivered to all 1 URL(s)."  # below the table, piped too
        assert len(receiver.received("/ok")) == 2 and len(receiver.received("/hangup")) == 0

        nothing = _probe(settings, f"{code}*210", "--type", "answer-out")
        assert nothing.returncode == 1 and "has no enabled answer-out request" in " ".join(nothing.stderr.split())

    unwatched = _probe(settings, f"{code}*210", "--timeout", "2")  # no processor, worker or sink now
    assert unwatched.returncode == 1
    assert unwatched.stdout.splitlines()[-1].startswith("No attempt in the delivery log within 2 s")


def test_piped_output_keeps_the_whole_title_and_every_cell(settings: Settings) -> None:
    code = f"{free_tenant_base(settings.database_url, 1):04d}"
    url = "http://127.0.0.1:9/callapi/events/" + "a-long-path-segment/" * 4 + "dial-in?token=0123456789abcdef"
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        org = create_organization(conn, create_provider(conn, "probe").id, code, "probe")
        saved = add_request(conn, settings, create_extension(conn, org.id, "210"),
                            {"type": 0, "method": 1, "url": url})

    done = _probe(settings, f"{code}*210", "--timeout", "1")  # no pipeline runs: the table stays at "waiting"
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    title = re.compile(rf"probe probe-[0-9a-f]+ \(dial-in for {code}\*210\), on call-events at \d+:\d+")
    assert any(title.fullmatch(line.strip()) for line in lines), done.stdout
    (row,) = [line for line in lines if "waiting" in line]
    assert f" {url} " in row and f" {saved.request.id} " in row, done.stdout  # one line, each cell whole
    assert lines[-1].startswith("No attempt in the delivery log within 1 s") and lines[-1].endswith(
        "that the relay published the extension's requests.")


@pytest.mark.parametrize(("args", "said"), [
    (["nope"], "is neither `0003*210` nor the extended form"),
    (["0003*210", "--type", "ringing"], "event type 'ringing' is not one of"),
])
def test_bad_input_is_refused_before_anything_is_sent(settings: Settings, args: list[str], said: str) -> None:
    done = _probe(settings, *args)
    assert done.returncode == 2 and said in " ".join(done.stderr.split())


def test_an_extension_that_does_not_exist_is_said_rather_than_asking_for_a_request(settings: Settings) -> None:
    missing = f"{free_tenant_base(settings.database_url, 1):04d}*210"
    done = _probe(settings, missing)
    said = " ".join(done.stderr.split())
    assert done.returncode == 1 and f"There is no extension {missing} in this database" in said, said
    assert "admin extension create" in said


def test_a_missing_topic_is_named_at_once_instead_of_blaming_kafka(settings: Settings) -> None:
    code = f"{free_tenant_base(settings.database_url, 1):04d}"
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        org = create_organization(conn, create_provider(conn, "probe").id, code, "probe")
        add_request(conn, settings, create_extension(conn, org.id, "210"), {"type": 0, "url": "http://127.0.0.1:9/x"})
    elsewhere = settings.model_copy(update={"topic_prefix": "probe-no-such-prefix."})

    done = _probe(elsewhere, f"{code}*210", "--timeout", "1")
    said = " ".join(done.stderr.split())
    assert done.returncode == 1, said
    assert "topic probe-no-such-prefix.call-events does not exist" in said and "CALLAPI_TOPIC_PREFIX" in said, said
    assert "ERROR aiokafka" not in said and "CALLAPI_KAFKA_BOOTSTRAP" not in said, said
    assert done.stdout == ""  # no table of jobs "waiting" for an event that was never written


def test_an_unmigrated_database_is_said_with_what_to_do(settings: Settings, unmigrated_database_url: str) -> None:
    done = _probe(settings.model_copy(update={"database_url": unmigrated_database_url}), "0003*210")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "The database has no callapi tables. Run `callapi-events db migrate`" in " ".join(done.stderr.split())


def test_an_unreachable_database_is_said_with_what_to_do() -> None:
    no_db = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    done = _probe(no_db, "0003*210")
    assert done.returncode == 1 and "Cannot reach PostgreSQL" in done.stderr and "CALLAPI_DATABASE_URL" in done.stderr


def _request(rid: str, type_: EventType, *, enabled: bool = True) -> EventRequest:
    return EventRequest(id=rid, extension="0003*210", type=type_, method=HttpMethod.POST, url="http://h/x",
                        enabled=enabled, modified=datetime(2026, 11, 27, tzinfo=UTC))


@pytest.mark.parametrize(("type_", "flow", "status"), [
    (EventType.DIAL_IN, "IN", "CALLING"), (EventType.DIAL_OUT, "OUT", "CALLING"), (EventType.HANGUP, "IN", "ANSWER"),
    (EventType.ANSWER_IN, "IN", "ANSWER"), (EventType.ANSWER_OUT, "OUT", "ANSWER"),
])
def test_the_probe_event_reads_like_a_call_of_its_type(type_: EventType, flow: str, status: str) -> None:
    event = synthetic_event("0003*210", type_, now=datetime(2026, 11, 27, tzinfo=UTC), kind="probe")
    assert (event.CallFlow, event.CallStatus, event.tenant) == (flow, status, "0003")
    own = event.CallerExtension if flow == "OUT" else event.CalledExtension
    assert own == "0003210" and event.CallID.startswith("probe.")
    requests = [_request("a", type_), _request("b", type_, enabled=False), _request("c", EventType((type_ + 1) % 5))]
    assert [job.request.id for job in owed(event, requests)] == ["a"]
