"""Test notifications: one request's notification of a synthetic event, sent now, so its owner can check the URL
(and the signature) without a call. Queued in PostgreSQL; the relay publishes it to `deliveries` (the API writes
only PostgreSQL), and a worker sends it as any other: signed, retried, logged in the request's delivery log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from control.service.outbox import extension_requests
from control.service.queries import get_request
from control.service.tenancy import ExtensionRef
from processors.join import join
from schemas.codec import encode
from schemas.jobs import DeliveryJob
from schemas.synthetic import synthetic_event


def send_test_notification(conn: psycopg.Connection[Any], extension: ExtensionRef, type_: object,
                           request_id: object) -> DeliveryJob:
    """Queue a test notification for this request, even a disabled one (to check it before enabling it); its
    CallID starts with `test.` and its CallerIDName says `CallAPI Events test`. Raises NotFound."""
    with conn.transaction():
        found = get_request(conn, extension, type_, request_id)
        (request,) = [r for r in extension_requests(conn, extension.number) if r.id == found.id]
        now = datetime.now(UTC)
        event = synthetic_event(extension.number, request.type, now=now, kind="test")
        (job,) = join(event, [request.model_copy(update={"enabled": True})], sequence=0, processed_at=now)
        conn.execute("INSERT INTO test_notifications (extension, job) VALUES (%s, %s)",
                     (extension.number, encode(job).decode()))
    return job
