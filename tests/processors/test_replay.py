"""`callapi-events replay` as a real subprocess against the real broker (no processor needed)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from processors.errors import ReplayError
from processors.replay import ReplayReport, load_config
from processors.replay_cli import interrupted
from processors.window import ReplayFilter, parse_when
from schemas.codec import encode
from schemas.events import CallEvent, EventType
from schemas.jobs import DeliveryJob, job_id_for
from schemas.join import join
from schemas.sequence import sequence_of
from schemas.settings import Settings
from tests.kafka import read_topic_sync
from tests.processes import ctrl_c_enabled, settings_env
from tests.processors.support import TopicReader, call_event, jobs_of, produce_at, produce_config, request

X, Y, Z = "0303*100", "0303*200", "0404*300"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
SINCE, UNTIL = T0 + timedelta(minutes=30), T0 + timedelta(minutes=90)
SLOTS = {"before": T0, "inside": T0 + timedelta(hours=1), "after": T0 + timedelta(hours=2)}
CONFIG = {
    X: [request(X, "rX1"), request(X, "rX2"), request(X, "rX3", EventType.HANGUP), request(X, "rXoff", enabled=False)],
    Y: [request(Y, "rY1")],
    Z: [request(Z, "rZ1")],
}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def history(settings: Settings) -> dict[str, Any]:
    """Events in three slots on call-events, and recorded jobs in the same slots on deliveries."""
    produce_config(settings, CONFIG)
    events = {slot: [call_event(ext) for ext in (X, X, Y, Y, Z, Z)] for slot in SLOTS}
    asyncio.run(produce_at(settings, settings.topics.call_events, [
        (e.extension, encode(e), _ms(at)) for slot, at in SLOTS.items() for e in events[slot]
    ]))
    recorded = {slot: _recorded_jobs(events[slot], at) for slot, at in SLOTS.items()}
    asyncio.run(produce_at(settings, settings.topics.deliveries, [
        (j.extension, encode(j), _ms(SLOTS[slot])) for slot, jobs in recorded.items() for j in jobs + jobs[:1]
    ]))  # the first job of each slot recorded twice, as at-least-once may
    return {"events": events, "recorded": recorded, "deliveries_before": 3 * 9}


def _recorded_jobs(events: list[CallEvent], at: datetime) -> list[DeliveryJob]:
    return [job for e in events for job in join(e, CONFIG[e.extension], sequence=0, processed_at=at)]


def _replay(settings: Settings, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "callapi_events", "replay", "--since", SINCE.isoformat(),
         "--until", UNTIL.isoformat(), "--json", *args],
        env=settings_env(settings), capture_output=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b" INFO aiokafka" not in result.stderr, result.stderr.decode()  # the client's routine lines stay quiet
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def _refused(settings: Settings, *args: str) -> str:
    """What replay says on stderr when it refuses its filters; it must exit 2 and print no summary."""
    result = subprocess.run(
        [sys.executable, "-m", "callapi_events", "replay", "--since", SINCE.isoformat(),
         "--until", UNTIL.isoformat(), "--json", *args],
        env=settings_env(settings), capture_output=True, timeout=120, check=False, text=True,
    )
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr, result.stderr
    return result.stderr


def _deliveries(settings: Settings, done: Callable[[list[DeliveryJob]], bool]) -> list[DeliveryJob]:
    reader = TopicReader(settings, settings.topics.deliveries)
    return jobs_of(reader.wait_for(lambda records: done(jobs_of(records)), timeout_s=60, settle_s=2))


def test_dry_run_counts_and_sends_nothing(settings: Settings, history: dict[str, Any]) -> None:
    everything = _replay(settings, "--dry-run")
    filtered = _replay(settings, "--dry-run", "--tenant", "303", "--request-id", "rX1", "--request-id", "rY1")
    recorded = _replay(settings, "--dry-run", "--deliveries", "--extension", "0303100")

    assert (everything["records_read"], everything["selected"], everything["jobs"]) == (6, 6, 8)
    assert (filtered["selected"], filtered["jobs"]) == (4, 4)  # X and Y events; rX1 and rY1 only
    assert (recorded["records_read"], recorded["selected"], recorded["jobs"]) == (9, 5, 4)  # X: 4 jobs, 1 twice
    assert not everything["sent"]
    total = history["deliveries_before"]
    assert len(_deliveries(settings, lambda jobs: len(jobs) >= total)) == total


def test_a_window_from_before_1970_reads_from_the_first_record(settings: Settings, history: dict[str, Any]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "callapi_events", "replay", "--since", "1900-01-01T00:00:00Z", "--until",
         UNTIL.isoformat(), "--dry-run", "--json"],
        env=settings_env(settings), capture_output=True, timeout=120, check=False, text=True,
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert json.loads(result.stdout)["records_read"] == 12  # the slots before and inside the window


@pytest.mark.parametrize(("since", "until", "said"), [
    ("30d", "20d", "Nothing on {source} in this window: the topic keeps records 168 h "
                   "(CALLAPI_CALL_EVENTS_RETENTION_H), so older ones may be deleted already."),
    ("2m", "1m", "Nothing on {source} in this window: check --since and --until (record times, UTC), and "
                 "CALLAPI_TOPIC_PREFIX."),
])
@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("as_json", [False, True])
def test_a_window_with_no_record_says_what_to_check(
    settings: Settings, since: str, until: str, said: str, as_json: bool,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "callapi_events", "replay", "--since", since, "--until", until, "--dry-run",
         *(["--json"] if as_json else [])],
        env=settings_env(settings), capture_output=True, timeout=120, check=False, text=True,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)["hint"] if as_json else result.stdout
    assert said.format(source=settings.topics.call_events) in shown, result.stdout


def test_replay_of_a_window_redelivers_exactly_its_jobs_with_the_same_ids(
    settings: Settings, history: dict[str, Any],
) -> None:
    report = _replay(settings)
    inside: list[CallEvent] = history["events"]["inside"]
    expected = {job_id_for(e.event_id, r.id) for e in inside for r in CONFIG[e.extension]
                if r.type == e.type and r.enabled}

    jobs = [j for j in _deliveries(settings, lambda js: sum(j.replay for j in js) >= 8) if j.replay]
    assert report["jobs"] == len(expected) == 8
    assert sorted(j.job_id for j in jobs) == sorted(expected)
    first_time = {  # as the processor joined them: written without a `partitions` header, by the topic's count
        json.loads(r.value)["event_id"]: sequence_of(r.offset, settings.partitions)
        for r in read_topic_sync(settings, settings.topics.call_events)
    }
    assert all(j.sequence == first_time[j.event_id] for j in jobs)


def test_replay_from_deliveries_resends_exactly_the_recorded_jobs(
    settings: Settings, history: dict[str, Any],
) -> None:
    report = _replay(settings, "--deliveries")
    recorded: list[DeliveryJob] = history["recorded"]["inside"]

    def resent_of(jobs: list[DeliveryJob]) -> list[DeliveryJob]:
        return [j for j in jobs if j.replay and j.processed_at < T0 + timedelta(hours=3)]

    resent = resent_of(_deliveries(settings, lambda js: len(resent_of(js)) >= len(recorded)))
    assert report["jobs"] == len(recorded)
    assert sorted(j.job_id for j in resent) == sorted(j.job_id for j in recorded)
    by_id = {j.job_id: j for j in recorded}
    assert all(j.model_copy(update={"replay": False}) == by_id[j.job_id] for j in resent)


UNKNOWN_RX9 = "in the current config (event-requests), --request-id rX9 matches no request."


@pytest.mark.parametrize(("args", "said"), [
    (("--request-id", "rX9"), UNKNOWN_RX9),
    (("--extension", X, "--request-id", "rY1"), "--request-id rY1 matches no request of the selected extensions"),
    (("--extension", "0303*999"), "--extension 0303*999 has no requests"),
    (("--tenant", "9999"), "--tenant 9999 has no extension with requests"),
    (("--request-id", "rXoff"), "--request-id rXoff is disabled, and a replay joins only enabled requests"),
    (("--deliveries", "--request-id", "rX9"), UNKNOWN_RX9),
])
@pytest.mark.usefixtures("history")
def test_a_filter_value_that_names_nothing_is_refused_with_exit_2(
    settings: Settings, args: tuple[str, ...], said: str,
) -> None:
    before = asyncio.run(_records_on(settings, settings.topics.deliveries))
    message = _refused(settings, *args)
    assert message.startswith("replay: ") and said in message, message
    assert "Nothing was replayed: check the value" in message
    assert asyncio.run(_records_on(settings, settings.topics.deliveries)) == before  # nothing sent


@pytest.mark.usefixtures("history")
def test_a_disabled_request_is_accepted_when_recorded_jobs_are_resent(settings: Settings) -> None:
    assert _replay(settings, "--dry-run", "--deliveries", "--request-id", "rXoff")["jobs"] == 0


BIG_EVENTS, BIG_FAN_OUT = 2000, 20  # 40,000 jobs sent in batches of 500: still sending long after the first batch


async def _records_on(settings: Settings, topic: str) -> int:
    """How many records `topic` holds: its offsets, exactly (only the replay writes there)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        await consumer.stop()


def big_replay_started(settings: Settings, ext: str, *args: str) -> subprocess.Popen[str]:
    """A replay of BIG_EVENTS events with BIG_FAN_OUT jobs each, of `ext`; returned once a batch is on `deliveries`."""
    produce_config(settings, {ext: [request(ext, f"r{i}") for i in range(BIG_FAN_OUT)]})
    inside = _ms(SLOTS["inside"])
    asyncio.run(produce_at(settings, settings.topics.call_events,
                           [(ext, encode(call_event(ext)), inside) for _ in range(BIG_EVENTS)]))
    replay = subprocess.Popen(
        [sys.executable, "-m", "callapi_events", "replay", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(),
         *args],
        env=settings_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=ctrl_c_enabled,
    )
    try:
        TopicReader(settings, settings.topics.deliveries).wait_for(lambda records: len(records) > 0, timeout_s=60)
    except BaseException:
        replay.kill()
        raise
    return replay


@pytest.mark.parametrize(("stop", "as_json"), [  # Ctrl-C; `timeout`, a Kubernetes Job stopped; a script's run
    (signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True),
])
def test_ctrl_c_says_how_many_jobs_went_and_exactly_those_are_on_the_topic(
    make_settings: Callable[..., Settings], stop: signal.Signals, as_json: bool,
) -> None:
    settings = make_settings()
    replay = big_replay_started(settings, "0505*100", *(["--json"] if as_json else []))
    try:
        replay.send_signal(stop)  # mid-run: the first batch is on the topic, most of the window is not
        shown, said = replay.communicate(timeout=60)
    finally:
        replay.kill()
    assert replay.returncode == 130, said

    went = re.search(r"replay interrupted: (\d+) job\(s\) sent to (\S+); (\d+) of the window's (\d+) record\(s\) "
                     r"on (\S+) read, (\d+) left\. Run the same command again", said)
    assert went is not None, said
    sent, target, read, total, source, left = went.groups()
    assert (target, source) == (settings.topics.deliveries, settings.topics.call_events)
    assert int(total) == BIG_EVENTS and int(read) + int(left) == BIG_EVENTS
    assert 0 < int(sent) < BIG_EVENTS * BIG_FAN_OUT, said
    assert asyncio.run(_records_on(settings, settings.topics.deliveries)) == int(sent)
    assert "Traceback" not in said and "Unclosed" not in said
    if as_json:  # the summary still goes to stdout, so a script sees what went
        summary = json.loads(shown)
        assert summary["interrupted"] is True and summary["jobs_sent"] == int(sent), shown
        assert (summary["records_scanned"], summary["window_records"]) == (int(read), BIG_EVENTS)


@pytest.mark.parametrize(("report", "dry_run", "said"), [
    (ReplayReport(sent=True), False, "replay interrupted: 0 job(s) sent to d; the window on c was not read yet."),
    (ReplayReport(sent=True, jobs=1200, jobs_sent=1000, window_records=90, records_scanned=60), False,
     "replay interrupted: 1000 job(s) sent to d; 60 of the window's 90 record(s) on c read, 30 left."),
    (ReplayReport(jobs=1200, window_records=90, records_scanned=60), True,
     "replay interrupted: 1200 job(s) counted, nothing sent (dry run); 60 of the window's 90 record(s) on c read"),
])
def test_the_interrupted_message_says_what_went_and_what_was_left(report: ReplayReport, dry_run: bool,
                                                                  said: str) -> None:
    message = interrupted(report, "c", "d", dry_run)
    assert message.startswith(said) and message.endswith("Run the same command again to replay the whole window "
                                                         "(receivers dedupe by webhook-id).")


@pytest.mark.parametrize("given", ["2026-11-29", "2026-11-29Z", "2026-11-29+02:00", "2026-11-27 10:00"])
def test_a_time_without_a_zone_is_refused_with_an_example_that_is_accepted(given: str) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ReplayError) as refused:
        parse_when(given, now=now)
    example = re.search(r"e\.g\. (\S+) for UTC", str(refused.value))
    assert example is not None, refused.value
    assert parse_when(example.group(1), now=now).tzinfo is not None


def test_reading_the_config_reports_progress_on_event_requests(make_settings: Callable[..., Settings]) -> None:
    """At a million extensions the config takes minutes to read: the bar names event-requests and counts it."""
    settings = make_settings()
    produce_config(settings, {f"0707*{n}": [request(f"0707*{n}", f"r{n}")] for n in range(100, 160)})
    seen: list[tuple[str, int, int]] = []
    asyncio.run(load_config(settings, ReplayFilter(), progress=lambda *step: seen.append(step)))
    assert seen and {topic for topic, _, _ in seen} == {settings.topics.event_requests}
    assert seen[0][1] == 0 and seen[-1][1:] == (60, 60)


def test_a_record_stamped_inside_the_window_after_one_stamped_past_its_end_is_replayed_too(
    make_settings: Callable[..., Settings],
) -> None:
    """Producers on several hosts stamp records with their own clocks: in a partition, one stamped just before
    --until can follow one stamped just after it, and belongs to the window all the same."""
    settings = make_settings()
    ext = "0909*100"
    produce_config(settings, {ext: [request(ext, "r1")]})
    until = _ms(UNTIL)
    asyncio.run(produce_at(settings, settings.topics.call_events, [
        (ext, encode(call_event(ext)), at) for at in (until - 2000, until + 1000, until - 1000, until + 2000)
    ]))
    report = _replay(settings, "--dry-run")
    assert (report["records_read"], report["jobs"]) == (2, 2)
