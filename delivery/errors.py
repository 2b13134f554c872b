"""Errors of the delivery workers.

DeliveryError
├── TransportError: no HTTP status came back; `error_class` is the short code recorded in the delivery log
│   ├── RequestTimeout: the connect or total timeout passed (`timeout`, `connect_timeout`)
│   ├── ConnectionFailed: refused, reset, DNS or TLS failure, closed before the reply head ended (`connect_error`, …)
│   ├── InvalidReply: the reply head is not HTTP a client can parse (`invalid_reply`); retried, as a 5xx is
│   └── DestinationRefused: the resolved address is not allowed (`unsafe_url`); never retried
├── DisableFailed: PostgreSQL could not record that a request is gone (the job is retried, not lost)
├── DisableTimedOut: the request's row stayed locked past the disable's timeout (the job stops, the request is left)
├── HostStalled: the destination is at its concurrency cap and completes nothing (the job is deferred)
└── ProducerBroken: the Kafka producer can never write to a partition again; the worker stops (its jobs are redone)
"""

from __future__ import annotations


class DeliveryError(Exception):
    """Root of the delivery workers' errors."""


class TransportError(DeliveryError):
    error_class = "transport_error"
    retryable = True

    def __init__(self, detail: str, *, error_class: str | None = None) -> None:
        super().__init__(detail)
        if error_class is not None:
            self.error_class = error_class


class RequestTimeout(TransportError):
    error_class = "timeout"


class ConnectionFailed(TransportError):
    error_class = "connect_error"


class InvalidReply(TransportError):
    """The receiver answered, but not with an HTTP reply head (a bad status line, header or Content-Length)."""

    error_class = "invalid_reply"


class DestinationRefused(TransportError):
    error_class = "unsafe_url"
    retryable = False


class DisableFailed(DeliveryError):
    """The 410 side effect could not be written; the caller retries the job."""


class DisableTimedOut(DeliveryError):
    """The 410's disable waited too long (a lock held on the request's row) and was cancelled: nothing changed."""


class HostStalled(DeliveryError):
    """A job should not keep waiting for this destination; the caller defers it to the retry path."""


class ProducerBroken(DeliveryError):
    """aiokafka's idempotent producer lost its sequence on a partition (OutOfOrderSequenceNumber, after the broker
    refused a batch): it is refused there for good, so only a new producer, in a new worker, can go on."""

