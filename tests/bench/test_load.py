"""The benchmarks' backlog load against the real broker: every event written, the collector left as it was."""

from __future__ import annotations

import gc

from bench.load import backlog
from producers.simulator.generator import Plan
from schemas.settings import Settings
from tests.kafka import read_topic_sync


def test_a_backlog_writes_every_event_and_restores_the_collector(settings: Settings) -> None:
    before = gc.get_threshold()
    sent = backlog(settings, Plan(seed=7, organizations=2, extensions=3), 200)

    assert len(sent.events) == 200
    written = read_topic_sync(settings, settings.topics.call_events)
    assert sorted(r.key.decode() for r in written) == sorted(e.extension for e in sent.events)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)
