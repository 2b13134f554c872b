"""An extension's requests as the control plane stores them in PostgreSQL, read as the EventRequests
`event-requests` carries: what the relay publishes, and what the probe and test notifications expect.
"""

from __future__ import annotations

from typing import Any

import psycopg

from schemas.requests import EventRequest

_REQUESTS_SQL = """
SELECT r.id, r.type, r.method, r.url, r.enabled, r.note, r.modified,
       coalesce(array_agg(s.secret ORDER BY s.created_at DESC, s.id DESC) FILTER (WHERE s.id IS NOT NULL), '{}')
FROM extensions e
JOIN event_requests r ON r.extension_id = e.id
LEFT JOIN signing_secrets s ON s.extension_id = r.extension_id AND s.request_id = r.id
     AND (s.expires_at IS NULL OR s.expires_at > now())
WHERE e.number = %s
GROUP BY r.extension_id, r.id
ORDER BY r.created_at, r.id
"""


def _request(number: str, row: tuple[Any, ...]) -> EventRequest:
    rid, type_, method, url, enabled, note, modified, secrets = row
    return EventRequest(
        id=rid, extension=number, type=type_, method=method, url=url, enabled=enabled, note=note,
        signing_secrets=tuple(secrets), modified=modified,
    )


def extension_requests(conn: psycopg.Connection[Any], number: str) -> list[EventRequest]:
    """The full current list of one extension's requests (unexpired secrets included); [] when none."""
    return [_request(number, row) for row in conn.execute(_REQUESTS_SQL, (number,)).fetchall()]


async def extension_requests_async(conn: psycopg.AsyncConnection[Any], number: str) -> list[EventRequest]:
    cursor = await conn.execute(_REQUESTS_SQL, (number,))
    return [_request(number, row) for row in await cursor.fetchall()]
