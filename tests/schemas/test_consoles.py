"""The Kafka client's lines about an unreachable broker are dropped where a command says it itself."""

from __future__ import annotations

import logging

import pytest

from schemas.consoles import kafka_connection_errors_dropped


def test_kafka_connection_errors_are_dropped_only_while_asked_and_kept_at_debug(
        caplog: pytest.LogCaptureFixture) -> None:
    kafka = logging.getLogger("aiokafka")
    with caplog.at_level(logging.INFO):
        with kafka_connection_errors_dropped():
            kafka.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9, "refused")
            kafka.error("Unable to update metadata from %s", [1])
            kafka.error("Unexpected error in sender routine")  # anything else still shows
        kafka.error("Unable connect to node with id %s: %s", 1, "refused")  # afterwards: a broker that went away
    assert [record.getMessage() for record in caplog.records] == [
        "Unexpected error in sender routine", "Unable connect to node with id 1: refused"]
    caplog.clear()
    with caplog.at_level(logging.DEBUG), kafka_connection_errors_dropped():
        kafka.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9, "refused")
    assert len(caplog.records) == 1  # --log-level DEBUG shows it all
