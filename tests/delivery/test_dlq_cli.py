"""`dlq list|redrive` as an operator runs them on a real DLQ: piped listings keep whole job ids, a long listing
shows the oldest rows and counts the rest, a window given backwards is refused, and Ctrl-C in a redrive finishes
the letters in flight and says what went."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from deploy.topics import create_topics, delete_topics
from schemas.codec import encode
from schemas.settings import Settings
from tests.delivery.helpers import stored_requests
from tests.delivery.jobs import make_job
from tests.kafka import produce, read_topic_sync
from tests.polling import eventually
from tests.processes import ctrl_c_enabled, settings_env


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callapi_events", *args], env=settings_env(settings),
                          capture_output=True, text=True, timeout=120)


def _said(output: str) -> str:
    """A command's message as one line (the console wraps long lines)."""
    return " ".join(output.split())


def _dead(settings: Settings, count: int, request_id: str) -> list[str]:
    """`count` dead letters of the request `request_id` of forty extensions (stored, enabled, as a redrive needs)."""
    extensions = [f"0003*{200 + n}" for n in range(min(count, 40))]
    stored_requests(settings.database_url, extensions, request_id, "http://127.0.0.1:9/down")
    jobs = [make_job("http://127.0.0.1:9/down", request_id=request_id, extension=extensions[n % 40])
            .model_copy(update={"attempt": 3, "last_error": "HTTP 503 (gave up after 3 attempts)"})
            for n in range(count)]
    asyncio.run(produce(settings, settings.topics.deliveries_dlq, [(job.extension, encode(job)) for job in jobs]))
    return [job.job_id for job in jobs]


def _hold_record_of(holder: psycopg.Connection[Any], topic: str, letter: dict[str, str]) -> None:
    """A row a redrive records for `letter` (as `dlq list --json` shows it), held locked by `holder`'s open
    transaction: the redrive's record of the letter's chunk waits until `holder` lets it go."""
    partition, offset = map(int, letter["where"].split(":"))
    holder.execute('INSERT INTO dlq_redrives (topic, partition, "offset", job_id) VALUES (%s, %s, %s, %s)',
                   (topic, partition, offset, letter["job_id"]))
    holder.commit()
    holder.execute('SELECT 1 FROM dlq_redrives WHERE topic = %s AND partition = %s AND "offset" = %s FOR UPDATE',
                   (topic, partition, offset))


def _redrive(settings: Settings, *args: str) -> tuple[subprocess.Popen[str], list[str], threading.Thread]:
    """`dlq redrive` running, Ctrl-C enabled; its stderr lines collected as they come."""
    redrive = subprocess.Popen(
        [sys.executable, "-m", "callapi_events", "dlq", "redrive", *args], env=settings_env(settings),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_enabled,
    )
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(redrive.stderr or []), daemon=True)
    reader.start()
    return redrive, errors, reader


def test_a_piped_listing_shows_whole_job_ids(settings: Settings) -> None:
    job_ids = _dead(settings, 2, "piped")
    done = _cli(settings, "dlq", "list", "--request-id", "piped")  # not a terminal: 80 columns
    assert done.returncode == 0, done.stdout + done.stderr
    assert " INFO aiokafka" not in done.stderr, done.stderr  # the client's routine lines stay quiet
    assert all(job_id in done.stdout for job_id in job_ids), done.stdout
    assert "`callapi-events dlq redrive` with the same filters puts those back." in _said(done.stdout)
    unfiltered = _said(_cli(settings, "dlq", "list").stdout)  # a redrive without a filter needs --yes: say so
    assert "`callapi-events dlq redrive --yes` puts those back." in unfiltered, unfiltered


def test_a_piped_listing_keeps_a_multi_line_error_on_its_row(settings: Settings) -> None:
    job = make_job("http://127.0.0.1:9/down", request_id="lines").model_copy(
        update={"attempt": 1, "last_error": "disable_failed: connection failed\n\tIs the server running?"})
    asyncio.run(produce(settings, settings.topics.deliveries_dlq, [(job.extension, encode(job))]))
    asyncio.run(produce(settings, settings.topics.call_events_dlq, [("0003*210", b"{")],
                        headers=[("error", b"invalid_json"), ("error-detail", b"Expecting value:\nline 1 column 2")]))
    listed = _cli(settings, "dlq", "list", "--request-id", "lines").stdout.splitlines()
    (row,) = [line for line in listed if job.job_id in line]
    assert "disable_failed: connection failed Is the server running?" in row, listed
    events = _cli(settings, "dlq", "events", "list", "--reason", "invalid_json").stdout.splitlines()
    assert any("invalid_json" in line and "Expecting value: line 1 column 2" in line for line in events), events


def test_a_long_listing_shows_the_oldest_rows_and_counts_every_match(settings: Settings) -> None:
    job_ids = _dead(settings, 30, "many")
    asyncio.run(produce(settings, settings.topics.deliveries_dlq, [("0003*250", b"{unreadable")]))
    listed = [json.loads(line) for line in _cli(settings, "dlq", "list", "--request-id", "many", "--json")
              .stdout.splitlines()]
    assert sorted(x["job_id"] for x in listed) == sorted(job_ids)
    assert [x["dead_at"] for x in listed] == sorted(x["dead_at"] for x in listed)
    done = _cli(settings, "dlq", "list", "--request-id", "many", "--limit", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {job_id for job_id in job_ids if job_id in done.stdout} == {x["job_id"] for x in listed[:5]}
    said = _said(done.stdout)
    assert "The oldest 5 of 30 shown" in said and "30 dead letter(s), 30 not redriven yet" in said, said
    everything = _said(_cli(settings, "dlq", "list", "--limit", "0").stdout)
    assert "1 unreadable, never redriven" in everything, everything


def test_a_redrive_that_matches_nothing_says_so_and_where_to_look(settings: Settings) -> None:
    _dead(settings, 1, "there")
    for command in (("dlq",), ("dlq", "events")):
        done = _cli(settings, *command, "redrive", "--extension", "0003*999999")
        assert done.returncode == 0, done.stdout + done.stderr
        lister = " ".join(("callapi-events", *command, "list"))
        assert _said(done.stdout) == (f"No dead letter matches: nothing was redriven. `{lister}` with the same "
                                      "filters shows what there is.")


def test_a_window_given_backwards_is_refused_rather_than_matching_nothing(settings: Settings) -> None:
    for command in ("list", "redrive"):
        done = _cli(settings, "dlq", command, "--since", "2026-11-28T10:00:00Z", "--until", "2026-11-28T09:00:00Z")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "is not before --until" in _said(done.stdout + done.stderr)


def test_a_window_may_be_given_as_durations_ago_as_for_replay(settings: Settings) -> None:
    job_ids = _dead(settings, 1, "recent")
    listed = _cli(settings, "dlq", "list", "--request-id", "recent", "--since", "1h", "--json")
    assert [json.loads(line)["job_id"] for line in listed.stdout.splitlines()] == job_ids, listed.stderr
    older = _cli(settings, "dlq", "list", "--request-id", "recent", "--since", "2h", "--until", "1h", "--json")
    assert older.returncode == 0 and older.stdout == "", older.stdout + older.stderr
    done = _cli(settings, "dlq", "list", "--since", "yesterday")
    assert done.returncode == 2 and "nor a duration ago like 2h" in _said(done.stderr), done.stdout + done.stderr
    for command in ("list", "redrive"):  # more days ago than a date holds
        done = _cli(settings, "dlq", command, "--since", "999999999d")
        assert done.returncode == 2 and "reaches back before the year 1" in _said(done.stderr), done.stderr


def test_without_postgresql_a_listing_does_not_claim_letters_were_never_redriven(settings: Settings) -> None:
    _dead(settings, 2, "nodb")
    no_db = settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:1/none"})
    done = _cli(no_db, "dlq", "list", "--request-id", "nodb")
    assert done.returncode == 0, done.stdout + done.stderr
    said = _said(done.stdout)
    assert "2 dead letter(s), redriven or not (PostgreSQL could not be read)" in said and "not redriven yet" not in said
    assert "redriven" not in done.stdout.splitlines()[1], done.stdout  # the header row has no such column
    (warned,) = [line for line in done.stderr.splitlines() if "PostgreSQL is unreachable" in line]
    assert warned.endswith("which letters were redriven is not shown."), done.stderr  # one line, for logs and grep
    with_db = _cli(settings, "dlq", "list", "--request-id", "nodb")
    assert "redriven" in with_db.stdout.splitlines()[1] and "2 not redriven yet" in _said(with_db.stdout)


def test_an_unmigrated_database_is_said_and_listing_goes_on_without_redrives(settings: Settings,
                                                                            unmigrated_database_url: str) -> None:
    _dead(settings, 1, "unmigrated")
    unmigrated = settings.model_copy(update={"database_url": unmigrated_database_url})
    listed = _cli(unmigrated, "dlq", "list", "--request-id", "unmigrated")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stdout + listed.stderr
    assert "1 dead letter(s), redriven or not (PostgreSQL could not be read)" in _said(listed.stdout)
    assert "no dlq_redrives table (run `callapi-events db migrate`" in _said(listed.stderr)
    refused = _cli(unmigrated, "dlq", "redrive", "--request-id", "unmigrated")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "callapi-events db migrate" in _said(refused.stderr)


def test_ctrl_c_in_a_redrive_finishes_the_letters_in_flight_and_says_what_went(settings: Settings) -> None:
    _dead(settings, 1500, "bulk")  # three chunks of 500
    listed = [json.loads(line) for line in _cli(settings, "dlq", "list", "--request-id", "bulk", "--json")
              .stdout.splitlines()]
    topic = settings.topics.deliveries_dlq  # listed[700]: a letter of the second chunk
    with psycopg.connect(settings.database_url) as holder:
        # the second chunk's record waits on this row: the redrive is held there, mid-way, until it is let go
        _hold_record_of(holder, topic, listed[700])
        redrive, errors, reader = _redrive(settings, "--request-id", "bulk", "--again")
        with psycopg.connect(settings.database_url, autocommit=True) as watcher:
            held = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO dlq_redrives%'")
            assert eventually(lambda: watcher.execute(held).fetchone()[0]), "the redrive never reached chunk two"
        redrive.send_signal(signal.SIGINT)
        assert eventually(lambda: any("finishing" in line for line in errors)), errors
        holder.rollback()
    out, _ = redrive.communicate(timeout=120)
    reader.join(timeout=10)
    said = _said(out + "".join(errors))
    assert redrive.returncode == 130, said
    assert "Interrupted: 1000 job(s) back on deliveries and recorded as redriven; the letters after those were not" \
        in said
    assert "Traceback" not in said, said  # the DLQ's reading closed in order, not by asyncio's shutdown
    with psycopg.connect(settings.database_url) as conn:
        recorded = conn.execute("SELECT count(*) FROM dlq_redrives WHERE topic = %s", (topic,)).fetchone()
    assert recorded == (1000,)
    assert len(read_topic_sync(settings, settings.topics.deliveries)) == 1000


def test_a_second_ctrl_c_in_a_redrive_says_the_letters_in_flight_may_go_again(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    _dead(settings, 1500, "twice")
    listed = [json.loads(line) for line in _cli(settings, "dlq", "list", "--json").stdout.splitlines()]
    topic = settings.topics.deliveries_dlq  # listed[700]: a letter of the second chunk
    recording = ("FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                 " AND query LIKE 'INSERT INTO dlq_redrives%%'")
    with psycopg.connect(settings.database_url) as holder, \
            psycopg.connect(settings.database_url, autocommit=True) as watcher:
        # the second chunk's record waits on this row, already on Kafka: there a second Ctrl-C stops the redrive
        _hold_record_of(holder, topic, listed[700])
        redrive, errors, reader = _redrive(settings, "--yes", "--again")
        try:
            assert eventually(lambda: watcher.execute(f"SELECT count(*) {recording}").fetchone()[0]), errors
            redrive.send_signal(signal.SIGINT)
            assert eventually(lambda: any("finishing" in line for line in errors)), errors
            redrive.send_signal(signal.SIGINT)  # it stops at once: it does not wait for the record held here
            out, _ = redrive.communicate(timeout=60)
            left = watcher.execute(f"SELECT count(*) {recording}").fetchone()  # while the row is still held
        finally:
            redrive.kill()
            holder.rollback()
    reader.join(timeout=10)
    said = _said(out + "".join(errors))
    assert redrive.returncode == 130 and "Traceback" not in said, said
    assert ("Interrupted: 500 job(s) back on deliveries and recorded as redriven; the next 500 were in flight when a "
            "second Ctrl-C stopped it: they may have gone without being recorded, and would then go again") in said
    with psycopg.connect(settings.database_url) as conn:
        recorded = conn.execute("SELECT count(*) FROM dlq_redrives WHERE topic = %s", (topic,)).fetchone()
    assert recorded == (501,)  # the first chunk, and the row held above
    assert left == (0,), "the redrive's record still waits in PostgreSQL, its connection closed under it"
    assert len(read_topic_sync(settings, settings.topics.deliveries)) == 1000  # the second chunk went, unrecorded


def test_ctrl_c_in_a_listing_stops_its_read_of_redrives_before_closing_the_connection(settings: Settings) -> None:
    """The read runs in a worker thread; closing its connection under it could corrupt the process's memory."""
    _dead(settings, 1, "locked")
    waiting = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
               " AND wait_event_type = 'Lock' AND query LIKE 'SELECT partition, \"offset\"%%'")
    with psycopg.connect(settings.database_url) as holder, \
            psycopg.connect(settings.database_url, autocommit=True) as watcher:
        holder.execute("LOCK TABLE dlq_redrives IN ACCESS EXCLUSIVE MODE")  # the listing's read waits on it
        listing = subprocess.Popen(
            [sys.executable, "-m", "callapi_events", "dlq", "list", "--request-id", "locked"],
            env=settings_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=ctrl_c_enabled,
        )
        try:
            assert eventually(lambda: watcher.execute(waiting).fetchone()[0]), "the listing never read redrives"
            listing.send_signal(signal.SIGINT)
            _, said = listing.communicate(timeout=60)
            left = watcher.execute(waiting).fetchone()  # while the lock is still held
        finally:
            listing.kill()
            holder.rollback()
    assert listing.returncode == 130 and "Traceback" not in said, said
    assert left == (0,), "the listing's read still waits in PostgreSQL, its connection closed under it"


def test_a_redrive_to_a_missing_deliveries_topic_exits_1_naming_it(base_settings: Settings, database_url: str) -> None:
    settings = Settings(kafka_bootstrap=base_settings.kafka_bootstrap, database_url=database_url, partitions=2,
                        topic_prefix=f"test.{uuid.uuid4().hex[:10]}.")
    specs = [s for s in settings.topic_specs() if s.name == settings.topics.deliveries_dlq]
    asyncio.run(create_topics(settings.kafka_bootstrap, specs))
    try:
        _dead(settings, 1, "nowhere")
        done = _cli(settings, "dlq", "redrive", "--yes")  # it waited for the topic, then failed with a traceback
    finally:
        asyncio.run(delete_topics(settings.kafka_bootstrap, [s.name for s in specs]))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert f"topic {settings.topics.deliveries} does not exist" in _said(done.stderr)


def test_show_prints_one_json_document_for_a_job_dead_lettered_once_or_twice(settings: Settings) -> None:
    job = make_job("http://127.0.0.1:9/down", request_id="twice-dead").model_copy(
        update={"attempt": 3, "last_error": "HTTP 503 (gave up after 3 attempts)"})
    asyncio.run(produce(settings, settings.topics.deliveries_dlq, [(job.extension, encode(job))]))
    once = _cli(settings, "dlq", "show", job.job_id)
    assert once.returncode == 0, once.stdout + once.stderr
    assert json.loads(once.stdout)["job"]["job_id"] == job.job_id  # one letter: the object, as before
    asyncio.run(produce(settings, settings.topics.deliveries_dlq, [(job.extension, encode(job))]))  # dead again
    twice = _cli(settings, "dlq", "show", job.job_id)
    assert twice.returncode == 0, twice.stdout + twice.stderr
    shown = json.loads(twice.stdout)  # two objects back to back would not load
    assert [x["job"]["job_id"] for x in shown] == [job.job_id, job.job_id]
    assert [x["dead_at"] for x in shown] == sorted(x["dead_at"] for x in shown)


def test_events_show_of_no_letter_names_the_topic_it_read(settings: Settings) -> None:
    done = _cli(settings, "dlq", "events", "show", "99:0")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"No dead letter at 99:0 on {settings.topics.call_events_dlq}." in _said(done.stderr), done.stderr
