"""The ingest's connection to Kafka: started in the background and retried, so the endpoint can answer
503 (instead of not starting) while Kafka is unreachable, and recovers on its own when Kafka returns.

Readiness follows reachability (see readiness.py): /readyz turns 503 while Kafka cannot be reached, or
answers without the call-events topic (deleted, or never created: every send would fail), so the pod leaves
the Service's endpoints, and 200 again once a metadata request lists the topic or a send succeeds.

While the producer's metadata lacks the topic, requests are refused at once (`writable_producer`) instead of
each waiting out the send timeout in the Kafka client's metadata loop (which logs the topic missing every
100 ms); the topic is looked up again at most every `ready_cache_s`, so creating it heals the endpoint.
The requests already waiting for acknowledgements when the topic goes (the first to find it deleted: Kafka answers
their records "unknown topic" and the client retries them until its request timeout) stop waiting at the metadata
update that no longer lists it (`acknowledged`), a round trip after their records were refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from producers.errors import ProducerUnavailable
from producers.ingest import metrics
from producers.ingest.readiness import Verdict
from producers.sdk import CallEventProducer
from schemas.consoles import kafka_connection_errors_dropped
from schemas.hints import topic_missing
from schemas.retry_notices import RetryNotices, failure_reason

log = logging.getLogger(__name__)

T = TypeVar("T")


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
        self._topic_lookup_due_s = -math.inf
        self._waiting: set[asyncio.Timeout] = set()  # the bounds of the sends waiting for Kafka's acknowledgement
        self._task: asyncio.Task[None] | None = None

    async def ready(self) -> bool:
        """Connected, Kafka reachable and the topic in its metadata: a fresh verdict, else a metadata request
        (at most ready_timeout_s)."""
        if not self._producer.started:
            return False
        if (fresh := self._verdict.current(self._clock())) is not None:
            return fresh
        check = await self._renewed()
        if check is None:
            return self._verdict.reachable  # another caller checked while this one waited
        metrics.READY_CHECKS.labels(check).inc()
        return check == "reachable"

    async def _renewed(self) -> str | None:
        """The result of one metadata request, recorded as the verdict (a change is logged); None when another
        caller renewed the verdict while this one waited for the lock."""
        async with self._check_lock:
            if self._verdict.current(self._clock()) is not None:
                return None
            check = await self._check()
            self._verdict.record(check == "reachable", self._clock())
            if check != self._last_check:
                self._log_change(check)
                self._last_check = check
        return check

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

    async def writable_producer(self) -> CallEventProducer:
        """The started producer while its metadata lists the topic (a lookup in memory), else ProducerUnavailable
        naming the topic, at once; the topic is looked up in Kafka again at most every `ready_cache_s`."""
        producer = self.producer()
        if producer.topic_known():
            return producer
        now_s = self._clock()
        if now_s >= self._topic_lookup_due_s:
            self._topic_lookup_due_s = now_s + self._verdict.fresh_s  # requests meanwhile do not wait for it
            self._verdict.void()  # a verdict from before the topic went is no answer
            await self._renewed()
            if producer.topic_known():
                return producer
        if self._last_check == "unreachable":
            raise ProducerUnavailable(f"Kafka at {producer.bootstrap} did not answer a metadata request within "
                                      f"{self.ready_timeout_s:g} s")
        raise ProducerUnavailable(topic_missing(producer.topic, producer.bootstrap))

    async def acknowledged(self, sending: Awaitable[T], *, timeout_s: float) -> T:
        """`await sending` for at most timeout_s, and no longer once a metadata update lacks the topic: TimeoutError
        then (`topic_known()` tells which)."""
        async with asyncio.timeout(timeout_s) as bound:
            self._waiting.add(bound)
            try:
                return await sending
            finally:
                self._waiting.discard(bound)

    def _metadata_updated(self) -> None:
        """Ends the waits of `acknowledged` when the topic is gone: its records are only retried until the Kafka
        client's request timeout, and then fail."""
        if not self._waiting or self._producer.topic_known():
            return
        waiting, self._waiting = self._waiting, set()
        now = asyncio.get_running_loop().time()
        for bound in waiting:
            if not bound.expired():  # reschedule() refuses a bound that is already expiring
                bound.reschedule(now)

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
                self._producer.on_metadata_update(self._metadata_updated)
                log.info("connected to Kafka at %s", self._producer.bootstrap)
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._producer.stop()
