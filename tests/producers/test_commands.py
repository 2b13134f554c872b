"""`callapi-events ingest` and `callapi-events simulate` run as real subprocesses against the real stack."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from producers.simulator.generator import Plan
from producers.simulator.runner import planned_events
from schemas.events import CallEvent
from schemas.ops import free_port
from schemas.settings import Settings
from tests.kafka import read_topic_sync
from tests.processes import ctrl_c_enabled, settings_env
from tests.processors.support import TopicReader
from tests.producers.helpers import make_tenant
from tests.services import Service

START = "2026-11-27T10:00:00Z"
SIMULATION = ["--organizations", "3", "--extensions", "4", "--rate", "3000", "--count", "400", "--seed", "11",
              "--start", START]


def test_the_ingest_command_serves_and_stops_cleanly(settings: Settings) -> None:
    tenant = make_tenant(settings.database_url)
    with Service(settings, "ingest") as ingest:
        response = httpx.get(f"{ingest.url}/ingest/{tenant.code}/dial-out", timeout=30,
                             params={"CallerExtension": f"{tenant.code}201", "CallFlow": "OUT", "CallID": "1.1"},
                             headers={"Authorization": f"Bearer {tenant.org_token}"})
        assert response.status_code == 202, response.text
        assert ingest.stop() == 0, ingest.component.log()
    (event_id,) = response.json()["event_ids"]
    events = [CallEvent.model_validate_json(r.value or b"") for r in
              read_topic_sync(settings, settings.topics.call_events, idle_s=1.0)]
    assert [e.extension for e in events if e.event_id == event_id] == [f"{tenant.code}*201"]


def simulate(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callapi_events", "simulate", *SIMULATION], env=settings_env(settings),
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_a_seeded_simulation_writes_exactly_the_generated_events_and_repeats_identically(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    plan = Plan(seed=11, organizations=3, extensions=4, rate_eps=3000)
    expected = [e.model_dump(mode="json") for e in planned_events(
        plan, start=datetime(2026, 11, 27, 10, tzinfo=UTC), count=400)]

    first = simulate(settings)
    assert first.returncode == 0, first.stdout + first.stderr
    topic = settings.topics.call_events
    written = [json.loads(r.value or b"") for r in read_topic_sync(settings, topic, count=400)]
    assert sorted(written, key=lambda e: e["event_id"]) == sorted(expected, key=lambda e: e["event_id"])
    per_type = Counter(e["type"] for e in expected)
    assert Counter(e["type"] for e in written) == per_type
    for slug, count in per_type.items():  # the summary table counts what was acknowledged
        assert any(line.split()[:3] == [slug, str(count), str(count)] for line in
                   first.stdout.replace("│", " ").splitlines()), first.stdout

    second = simulate(settings)
    assert second.returncode == 0, second.stdout + second.stderr
    both = [json.loads(r.value or b"") for r in read_topic_sync(settings, topic, count=800)]
    assert Counter(json.dumps(e, sort_keys=True) for e in both) == Counter(
        json.dumps(e, sort_keys=True) for e in expected * 2)


def test_simulate_without_kafka_says_what_to_do(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    result = simulate(nowhere)
    assert result.returncode == 1
    assert "callapi-events stack up" in result.stderr and "stack up" not in result.stdout
    assert "Unable connect" not in result.stderr, result.stderr  # aiokafka's own line would only repeat ours


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_simulation_says_what_it_sent_and_kafka_holds_what_it_counted_acknowledged(
    make_settings: Callable[..., Settings], stop: signal.Signals,
) -> None:
    settings = make_settings()
    run = subprocess.Popen(
        [sys.executable, "-m", "callapi_events", "simulate", "--rate", "200", "--duration", "600", "--seed", "5"],
        env=settings_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=ctrl_c_enabled,
    )
    try:
        TopicReader(settings, settings.topics.call_events).wait_for(lambda records: len(records) > 0, timeout_s=60)
        run.send_signal(stop)
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130, out + err
    (total,) = [line.split()[1:] for line in out.replace("│", " ").splitlines() if line.split()[:1] == ["total"]]
    sent, acked, failed = map(int, total)
    assert sent > 0 and sent == acked + failed, out
    said = " ".join(err.split())
    assert re.search(rf"simulation interrupted: {sent} event\(s\) sent, {acked} acknowledged by Kafka", said), said
    written = read_topic_sync(settings, settings.topics.call_events, idle_s=1.0)
    assert len(written) == acked and "Traceback" not in err
