"""An extension's requests as the control plane stores them in PostgreSQL, read as the EventRequests
`event-requests` carries: what the relay publishes, and what the probe and test notifications expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from pydantic import ValidationError

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


@dataclass(frozen=True)
class RefusedRow:
    """A stored request the published model refuses: only a direct edit of the database, or a model stricter than
    an older row, makes one."""

    request_id: str
    error: ValidationError

    def reason(self) -> str:
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in self.error.errors())


Publishable = tuple[list[EventRequest], list[RefusedRow]]
"""An extension's list as the relay publishes it, and apart from it the rows the model refuses: left out, so that
one bad row holds up neither its extension's other changes nor, failing the relay's batch, every other
extension's."""


def _publishable(number: str, rows: list[tuple[Any, ...]]) -> Publishable:
    published, refused = [], []
    for row in rows:
        try:
            published.append(_request(number, row))
        except ValidationError as error:
            refused.append(RefusedRow(request_id=row[0], error=error))
    return published, refused


def publishable_requests(conn: psycopg.Connection[Any], number: str) -> Publishable:
    """The full current list of one extension's requests (unexpired secrets included), and the refused rows."""
    return _publishable(number, conn.execute(_REQUESTS_SQL, (number,)).fetchall())


async def publishable_requests_async(conn: psycopg.AsyncConnection[Any], number: str) -> Publishable:
    cursor = await conn.execute(_REQUESTS_SQL, (number,))
    return _publishable(number, await cursor.fetchall())


def extension_requests(conn: psycopg.Connection[Any], number: str) -> list[EventRequest]:
    """The list the relay publishes for one extension (a refused row left out); [] when none."""
    return publishable_requests(conn, number)[0]
