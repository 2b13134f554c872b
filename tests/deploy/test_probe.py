"""The local stack's readiness probes quiet the Kafka client's log only while they probe."""

from __future__ import annotations

import logging

from deploy.local.probe import kafka_metadata_ok
from schemas.settings import Settings


def test_probing_kafka_leaves_the_kafka_client_log_level_as_it_was(base_settings: Settings) -> None:
    client_log = logging.getLogger("aiokafka")
    before = client_log.level
    client_log.setLevel(logging.INFO)
    try:
        assert kafka_metadata_ok(base_settings.kafka_bootstrap)
        assert client_log.level == logging.INFO
    finally:
        client_log.setLevel(before)
