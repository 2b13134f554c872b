"""Errors of the producers: the SDK, the ingest endpoint and the simulator.

ProducerError
├── InvalidEvent: a CallEvent (or the dict meant to be one) that does not validate; `code` and `detail`
├── ProducerUnavailable: the producer is not running (Kafka unreachable at start, or already stopped)
├── DeliveryFailed: Kafka did not acknowledge a record (broker error or timeout); `event_id` and `cause`
├── IngestRejected: an ingest request answered with an HTTP error; `status`, `code`, `message`
├── ProvisionError: creating tenants, extensions or requests for the simulator failed; says which step
└── DemoFailed: a step of the demo failed; says which and what to do
"""

from __future__ import annotations


class ProducerError(Exception):
    """Root of the producers' errors."""


class InvalidEvent(ProducerError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class ProducerUnavailable(ProducerError):
    """Kafka cannot be reached, or the producer was stopped."""


class DeliveryFailed(ProducerError):
    def __init__(self, event_id: str, cause: BaseException) -> None:
        super().__init__(f"event {event_id} was not acknowledged by Kafka: {cause!r}")
        self.event_id = event_id
        self.cause = cause


class IngestRejected(ProducerError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ProvisionError(ProducerError):
    """A provisioning step failed; the message names the step and what the other side said."""


class DemoFailed(ProducerError):
    """A step of the demo failed; the message says which and what to do."""
