"""Replay filter values checked in the control plane's PostgreSQL, the source `event-requests` is written from.

Resending recorded jobs (`--deliveries`) needs no config, only the proof that the filters name something, and
reading the whole compacted topic for that takes minutes at a million extensions; PostgreSQL answers with a
query. Only its yes is taken: a value it does not know (or a database that cannot be reached, or is not this
prefix's) is checked in `event-requests` as before, so a refusal still speaks for the config the join uses.
"""

from __future__ import annotations

import logging

import psycopg

from processors.replay_check import ConfigSeen, refusal
from processors.window import ReplayFilter
from schemas.extensions import organization_code

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 15_000

# Per extension with requests (among the filters' extensions or tenants): its wanted Request IDs and their
# enabled flags. With only --request-id, only the extensions holding one of those IDs.
_KNOWN_SQL = """
SELECT e.number,
       coalesce(array_agg(r.id ORDER BY r.id) FILTER (WHERE r.id = ANY(%(ids)s)), '{}'),
       coalesce(array_agg(r.enabled ORDER BY r.id) FILTER (WHERE r.id = ANY(%(ids)s)), '{}')
FROM extensions e
JOIN event_requests r ON r.extension_id = e.id
WHERE (%(any_extension)s OR e.number = ANY(%(extensions)s))
  AND (%(any_tenant)s OR split_part(e.number, '*', 1) = ANY(%(tenants)s))
  AND (%(by_place)s OR r.id = ANY(%(ids)s))
GROUP BY e.number
"""


async def known_in_control_plane(database_url: str, wanted: ReplayFilter) -> bool:
    """True when PostgreSQL shows every filter value naming something recorded jobs can be resent for (as
    `--deliveries` checks them); False when it does not, or cannot say."""
    try:
        seen = await _seen(database_url, wanted)
    except psycopg.Error as error:  # unreachable, not migrated, another schema: event-requests answers instead
        log.debug("replay filters not checked in PostgreSQL (%s); reading event-requests", error)
        return False
    return refusal(seen, from_deliveries=True) is None


async def _seen(database_url: str, wanted: ReplayFilter) -> ConfigSeen:
    params = {
        "ids": sorted(wanted.request_ids), "extensions": sorted(wanted.extensions),
        "tenants": sorted(organization_code(t) for t in wanted.tenants),
        "any_extension": not wanted.extensions, "any_tenant": not wanted.tenants,
        "by_place": bool(wanted.extensions or wanted.tenants),
    }
    seen = ConfigSeen(wanted)
    async with await psycopg.AsyncConnection.connect(
        database_url, connect_timeout=CONNECT_TIMEOUT_S, options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    ) as conn:
        cursor = await conn.execute(_KNOWN_SQL, params)
        for number, ids, enabled in await cursor.fetchall():
            if wanted.wants_extension(number):
                seen.note_ids(number, dict(zip(ids, enabled, strict=True)), has_requests=True)
    return seen
