"""The Kafka client's lines about an unreachable broker are dropped where a command says it itself."""

from __future__ import annotations

import logging

import pytest

from schemas.consoles import kafka_connection_errors_dropped


def test_kafka_connection_errors_are_dropped_only_while_asked_and_kept_at_debug(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    kafka = logging.getLogger("aiokafka")
    # the client's logger as a fresh process has it: earlier commands run in this process may have set its level
    # (the stack's probe) or left the filter on (quiet_kafka_client)
    monkeypatch.setattr(kafka, "filters", [])
    with caplog.at_level(logging.INFO, logger="aiokafka"):
        with kafka_connection_errors_dropped():
            kafka.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9, "refused")
            kafka.error("Unable to update metadata from %s", [1])
            kafka.error("Unexpected error in sender routine")  # anything else still shows
        kafka.error("Unable connect to node with id %s: %s", 1, "refused")  # afterwards: a broker that went away
    assert [record.getMessage() for record in caplog.records] == [
        "Unexpected error in sender routine", "Unable connect to node with id 1: refused"]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="aiokafka"), kafka_connection_errors_dropped():
        kafka.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9, "refused")
    assert len(caplog.records) == 1  # --log-level DEBUG shows it all
