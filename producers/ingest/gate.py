"""The ingest's connection to Kafka: started in the background and retried, so the endpoint can answer
503 (instead of not starting) while Kafka is unreachable, and recovers on its own when Kafka returns.

Readiness follows reachability (see readiness.py): /readyz turns 503 while Kafka cannot be reached, or
answers without the call-events topic (deleted, or never created: every send would fail), so the pod leaves
the Service's endpoints, and 200 again once a metadata request lists the topic or a send succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from producers.errors import ProducerUnavailable
from producers.ingest import metrics
from producers.ingest.readiness import Verdict
from producers.sdk import CallEventProducer
from schemas.consoles import kafka_connection_errors_dropped
from schemas.retry_notices import RetryNotices, failure_reason

log = logging.getLogger(__name__)


class KafkaGate:
    def __init__(
        self, *, producer: CallEventProducer, retry_s: float = 2.0, ready_cache_s: float = 5.0,
        ready_timeout_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._producer = producer
        self.retry_s = retry_s
        self.ready_timeout_s = ready_timeout_s
        self._clock = clock
        self._verdict = Verdict(fresh_s=ready_cache_s)
        self._check_lock = asyncio.Lock()  # one metadata request at a time; concurrent probes reuse its verdict
        self._last_check: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def ready(self) -> bool:
        """Connected, Kafka reachable and the topic in its metadata: a fresh verdict, else a metadata request
        (at most ready_timeout_s)."""
        if not self._producer.started:
            return False
        if (fresh := self._verdict.current(self._clock())) is not None:
            return fresh
        async with self._check_lock:
            if (fresh := self._verdict.current(self._clock())) is not None:
                return fresh  # another probe checked while this one waited
            check = await self._check()
            self._verdict.record(check == "reachable", self._clock())
            if check != self._last_check:
                self._log_change(check)
                self._last_check = check
        metrics.READY_CHECKS.labels(check).inc()
        return check == "reachable"

    async def _check(self) -> str:
        """One metadata request: "reachable" (with the topic), "topic_missing" or "unreachable"."""
        if not await self._producer.reachable(timeout_s=self.ready_timeout_s):
            return "unreachable"
        return "reachable" if self._producer.topic_known() else "topic_missing"

    def _log_change(self, check: str) -> None:
        if check == "reachable":
            log.info("Kafka at %s answers, topic %s is there: ready", self._producer.bootstrap, self._producer.topic)
        elif check == "topic_missing":
            log.warning("Kafka at %s has no topic %s: not ready. Create it (`callapi-events topics create`)",
                        self._producer.bootstrap, self._producer.topic)
        else:
            log.warning("Kafka at %s did not answer a metadata request within %g s: not ready",
                        self._producer.bootstrap, self.ready_timeout_s)

    def sent(self, *, acknowledged: bool) -> None:
        """The outcome of a send: an acknowledgement proves Kafka reachable, a failure voids the verdict."""
        if acknowledged:
            self._verdict.record(True, self._clock())
        else:
            self._verdict.void()

    def producer(self) -> CallEventProducer:
        """The started producer, or ProducerUnavailable."""
        if not self._producer.started:
            raise ProducerUnavailable(f"not connected to Kafka at {self._producer.bootstrap} yet")
        return self._producer

    def open(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="ingest-kafka-connect")

    async def _connect(self) -> None:
        notices = RetryNotices()
        while True:
            try:
                with kafka_connection_errors_dropped():  # said below, with the setting to check
                    await self._producer.start()
            except ProducerUnavailable as error:
                reason = failure_reason(error.__cause__ or error, bootstrap=self._producer.bootstrap)
                quiet_rounds = notices.failed(reason, self._clock())
                if quiet_rounds is not None:
                    log.warning("%s; retrying every %g s%s", reason, self.retry_s,
                                notices.repeat_note(quiet_rounds, unit="attempts"))
                await asyncio.sleep(self.retry_s)
            else:  # the start's metadata answer lists no topic: the verdict stays void, the first probe asks
                log.info("connected to Kafka at %s", self._producer.bootstrap)
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._producer.stop()
