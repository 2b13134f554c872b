"""Test notifications: one request's notification of a synthetic event, sent now, so its owner can check the URL
(and the signature) without a call. Queued in PostgreSQL; the relay publishes it to `deliveries` (the API writes
only PostgreSQL), and a worker sends it as any other: signed, retried, logged in the request's delivery log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

import psycopg

from control.errors import InvalidInput, Throttled
from control.service.queries import get_request
from control.service.tenancy import ExtensionRef, lock_extension
from schemas.codec import encode
from schemas.jobs import DeliveryJob
from schemas.join import join
from schemas.request_rows import RefusedRow, publishable_requests
from schemas.synthetic import synthetic_event

TESTS_PER_MINUTE = 10


def _refuse_too_many(conn: psycopg.Connection[Any], extension: ExtensionRef, request_id: str) -> None:
    """At most TESTS_PER_MINUTE per request: a test is a check, not a way to flood a URL (Throttled, 429)."""
    row = conn.execute(
        "SELECT count(*), ceil(extract(epoch FROM min(created_at) + interval '1 minute' - now()))"
        " FROM test_notifications WHERE extension = %s AND request_id = %s"
        " AND created_at > now() - interval '1 minute'",
        (extension.number, request_id),
    ).fetchone()
    if row is not None and row[0] >= TESTS_PER_MINUTE:
        raise Throttled(f"request {request_id} was sent {row[0]} test notifications in the last minute, the most "
                        f"allowed: try again in {int(row[1])} s", retry_after_s=max(1, int(row[1])),
                        code="test_throttled")


def send_test_notification(conn: psycopg.Connection[Any], extension: ExtensionRef, type_: object,
                           request_id: object) -> DeliveryJob:
    """Queue a test notification for this request, even a disabled one (to check it before enabling it); its
    CallID starts with `test.` and its CallerIDName says `CallAPI Events test`. Raises NotFound, Throttled."""
    with conn.transaction():
        found = get_request(conn, extension, type_, request_id)
        lock_extension(conn, extension)  # two tests at once count each other
        _refuse_too_many(conn, extension, found.id)
        published, refused = publishable_requests(conn, extension.number)
        matching = [r for r in published if r.id == found.id]
        if not matching:
            _refuse_unsendable(found.id, refused)
        (request,) = matching
        now = datetime.now(UTC)
        event = synthetic_event(extension.number, request.type, now=now, kind="test")
        (job,) = join(event, [request.model_copy(update={"enabled": True})], sequence=0, processed_at=now)
        conn.execute("INSERT INTO test_notifications (extension, request_id, job) VALUES (%s, %s, %s)",
                     (extension.number, found.id, encode(job).decode()))
    return job


def _refuse_unsendable(request_id: str, refused: list[RefusedRow]) -> NoReturn:
    """A stored request the relay leaves out of its list cannot be tested either: say what to edit."""
    (row,) = [r for r in refused if r.request_id == request_id]
    raise InvalidInput("request_invalid", f"request {request_id} is stored in a form that cannot be sent "
                       f"({row.reason()}): edit it, then send the test again")
