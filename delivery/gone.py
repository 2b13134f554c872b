"""410 Gone: disable the request in PostgreSQL, so the control plane's relay publishes the change.

One transaction updates the request and writes the outbox row; the relay then republishes the extension's
requests on `event-requests`, the processor stops producing jobs for it and the UI shows it disabled. Only while
the request still has the job's URL: a retry for the URL it had before an Edit (the endpoint it was moved away
from, now gone) stops that job alone; and only while it is enabled: a request the user disabled keeps their disable
(no 'gone', no outbox row).

The update waits at most STATEMENT_TIMEOUT_S, so a lock held on the row (an Edit in flight, a stuck session) cannot
hold up the job: it raises DisableTimedOut, and the 410 stops the job without the disable.
"""

from __future__ import annotations

import logging

import psycopg

from delivery.errors import DisableFailed, DisableTimedOut
from schemas.jobs import DeliveryJob

log = logging.getLogger(__name__)

DISABLE_SQL = """
UPDATE event_requests SET enabled = false, disabled_reason = 'gone', modified = now()
WHERE id = %(request_id)s AND extension_id = (SELECT id FROM extensions WHERE number = %(extension)s)
  AND url = %(url)s AND enabled
"""
STATEMENT_TIMEOUT_S = 5
OUTBOX_SQL = "INSERT INTO outbox (extension) VALUES (%(extension)s)"


class RequestDisabler:
    """Connects per call: a 410 is rare, and a fresh connection recovers by itself after an outage."""

    def __init__(self, *, database_url: str, connect_timeout_s: float = 5.0) -> None:
        self._database_url = database_url
        self._connect_timeout_s = connect_timeout_s

    async def disable(self, job: DeliveryJob) -> bool:
        """Disable the job's request; True when a row changed. Raises DisableTimedOut when the update waited past
        STATEMENT_TIMEOUT_S (nothing changed), DisableFailed when PostgreSQL fails otherwise."""
        values = {"request_id": job.request_id, "extension": job.extension, "url": job.url}
        try:
            async with await psycopg.AsyncConnection.connect(
                self._database_url, connect_timeout=max(1, round(self._connect_timeout_s))
            ) as conn, conn.transaction():
                await conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT_S}s'")
                cursor = await conn.execute(DISABLE_SQL, values)
                changed = cursor.rowcount > 0
                if changed:
                    await conn.execute(OUTBOX_SQL, values)
        except psycopg.errors.QueryCanceled as error:
            raise DisableTimedOut(f"request {job.request_id} was not disabled: {error}") from None
        except psycopg.Error as error:
            raise DisableFailed(f"could not disable request {job.request_id}: {error}") from None
        log.info("request %s of %s answered 410 Gone: disabled=%s", job.request_id, job.extension, changed)
        return changed
