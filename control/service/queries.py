"""Reads of the Event resource: one request, a filtered/sorted/paged list, a request's delivery log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from control.errors import InvalidInput, NotFound
from control.service.tenancy import ExtensionRef
from control.service.validation import (
    clean_text,
    parse_int,
    parse_method,
    parse_request_id,
    parse_status,
    parse_type,
)
from control.service.views import DeliveryPage, DeliveryView, RequestPage, RequestView
from schemas.events import EventType

DEFAULT_COUNT = 50
MAX_COUNT = 1000
MAX_START_INDEX = 999_999_999
DELIVERIES_COUNTED = 10_000
"""A request's delivery log is counted up to here (or to the end of the page asked for), no further."""
TEXT_FILTERS = ("id", "url", "note")
EXACT_FILTERS = {"type": parse_type, "method": lambda v: parse_method(v).value, "status": parse_status}
SORT_COLUMNS = {"created": ("created_at", "id"), "id": ("id",), "type": ("type", "created_at", "id"),
                "url": ("url", "id"), "modified": ("modified", "id")}
_COLUMN_OF = {"status": "enabled"}
NOT_IN_THE_LOG = {"filterBy": "filter_invalid", "filterValue": "filter_invalid", "sortBy": "sort_invalid"}

SELECT_REQUEST = """
SELECT r.id, r.type, r.method, r.url, r.enabled, r.note, r.modified,
       EXISTS (SELECT 1 FROM signing_secrets s WHERE s.extension_id = r.extension_id AND s.request_id = r.id
               AND s.expires_at IS NULL) AS signing,
       r.disabled_reason
FROM event_requests r
"""


@dataclass(frozen=True)
class ListQuery:
    """ListAll parameters, already validated (see parse_list_query)."""

    type: EventType | None = None
    count: int = DEFAULT_COUNT
    start_index: int = 0
    filter_by: str | None = None
    filter_value: object = None
    sort_by: str = "created"
    descending: bool = False


def view_of(row: tuple[Any, ...]) -> RequestView:
    rid, type_, method, url, enabled, note, modified, signing, reason = row
    return RequestView(rid, EventType(type_), method, url, enabled, note, modified, signing, reason)


def _filter(params: Mapping[str, Any]) -> tuple[str | None, object]:
    by, value = params.get("filterBy"), params.get("filterValue")
    fields = ", ".join([*TEXT_FILTERS, *EXACT_FILTERS])
    if by in (None, ""):
        if value not in (None, ""):  # ignored, it would answer every request as if they matched it
            raise InvalidInput("filter_invalid", f"filterValue needs a filterBy (one of {fields})", field="filterBy")
        return None, None
    if by not in TEXT_FILTERS and by not in EXACT_FILTERS:
        raise InvalidInput("filter_invalid", f"filterBy {by!r} is not one of {fields}", field="filterBy")
    if value is None:
        raise InvalidInput("filter_invalid", "filterBy needs a filterValue", field="filterValue")
    if by in EXACT_FILTERS:
        return str(by), EXACT_FILTERS[str(by)](value)
    return str(by), clean_text(str(value), code="filter_invalid", field="filterValue")


def _descending(params: Mapping[str, Any], default: str) -> bool:
    order = str(params.get("sortOrder") or default).lower()
    if order not in ("ascending", "descending", "asc", "desc"):
        raise InvalidInput("sort_invalid", f"sortOrder {order!r} is not ascending or descending", field="sortOrder")
    return order.startswith("desc")


def _sort(params: Mapping[str, Any]) -> tuple[str, bool]:
    descending = _descending(params, "ascending")
    by = str(params.get("sortBy") or "created")
    if by not in SORT_COLUMNS:
        raise InvalidInput("sort_invalid", f"sortBy {by!r} is not one of {', '.join(SORT_COLUMNS)}", field="sortBy")
    return by, descending


def _log_descending(params: Mapping[str, Any]) -> bool:
    """The delivery log's order: newest first, or oldest with `sortOrder` ascending. It has none of ListAll's filters
    or other orders, and refuses them: ignored, they would answer the whole log as if it were the one asked for."""
    for name, code in NOT_IN_THE_LOG.items():
        if params.get(name) not in (None, ""):
            raise InvalidInput(code, f"the delivery log takes no {name}: it is in the order of its attempts, newest "
                               "first (sortOrder=ascending: oldest first), paged with count and startIndex", field=name)
    return _descending(params, "descending")


def parse_count(value: object) -> int:
    """`count`: 1-1000, default 50."""
    return DEFAULT_COUNT if value in (None, "") else parse_int(value, name="count", code="paging_invalid", minimum=1,
                                                                maximum=MAX_COUNT)


def parse_start_index(value: object) -> int:
    """`startIndex`: 0-based, default 0."""
    return 0 if value in (None, "") else parse_int(value, name="startIndex", code="paging_invalid", minimum=0,
                                                   maximum=MAX_START_INDEX)


def parse_paging(params: Mapping[str, Any]) -> tuple[int, int]:
    """`count` and `startIndex`."""
    return parse_count(params.get("count")), parse_start_index(params.get("startIndex"))


def parse_list_query(params: Mapping[str, Any]) -> ListQuery:
    """ListAll query parameters: type, count, startIndex, filterBy, filterValue, sortBy, sortOrder."""
    type_ = params.get("type")
    count, start = parse_paging(params)
    filter_by, filter_value = _filter(params)
    sort_by, descending = _sort(params)
    return ListQuery(None if type_ in (None, "") else parse_type(type_), count, start, filter_by, filter_value,
                     sort_by, descending)


def _where(extension: ExtensionRef, query: ListQuery) -> tuple[sql.Composed, list[Any]]:
    clauses: list[sql.Composable] = [sql.SQL("r.extension_id = %s")]
    args: list[Any] = [extension.id]
    if query.type is not None:
        clauses.append(sql.SQL("r.type = %s"))
        args.append(int(query.type))
    if query.filter_by in TEXT_FILTERS:
        clauses.append(sql.SQL("strpos(lower({}), lower(%s)) > 0").format(sql.Identifier("r", query.filter_by)))
        args.append(query.filter_value)
    elif query.filter_by is not None:
        column = _COLUMN_OF.get(query.filter_by, query.filter_by)
        clauses.append(sql.SQL("{} = %s").format(sql.Identifier("r", column)))
        value = query.filter_value
        args.append(int(value) if isinstance(value, EventType) else value)
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), args


def list_requests(conn: psycopg.Connection[Any], extension: ExtensionRef, query: ListQuery) -> RequestPage:
    """ListAll: one page of the extension's requests and the total matching the filter."""
    where, args = _where(extension, query)
    direction = sql.SQL(" DESC") if query.descending else sql.SQL(" ASC")
    order = sql.SQL(", ").join(sql.Identifier("r", c) + direction for c in SORT_COLUMNS[query.sort_by])
    total_row = conn.execute(sql.SQL("SELECT count(*) FROM event_requests r") + where, args).fetchone()
    rows = conn.execute(
        sql.SQL(SELECT_REQUEST) + where + sql.SQL(" ORDER BY ") + order + sql.SQL(" LIMIT %s OFFSET %s"),
        [*args, query.count, query.start_index],
    ).fetchall()
    total = int(total_row[0]) if total_row else 0
    return RequestPage([view_of(row) for row in rows], total, query.start_index, query.count)


def get_request(conn: psycopg.Connection[Any], extension: ExtensionRef, type_: object, request_id: object,
                *, for_update: bool = False) -> RequestView:
    """One request by type and Request ID; NotFound when the extension has no such request of that type."""
    event_type, rid = parse_type(type_), parse_request_id(request_id)
    lock = " FOR UPDATE" if for_update else ""
    row = conn.execute(
        SELECT_REQUEST + " WHERE r.extension_id = %s AND r.id = %s AND r.type = %s" + lock,
        (extension.id, rid, int(event_type)),
    ).fetchone()
    if row is None:
        raise NotFound(f"extension {extension.number} has no {event_type.slug} request {rid}")
    return view_of(row)


def list_deliveries(conn: psycopg.Connection[Any], extension: ExtensionRef, type_: object, request_id: object,
                    params: Mapping[str, Any]) -> DeliveryPage:
    """The delivery log of one request, newest first (`sortOrder` ascending: oldest), paged with `count` and
    `startIndex`."""
    request = get_request(conn, extension, type_, request_id)
    count, start = parse_paging(params)
    direction = "DESC" if _log_descending(params) else "ASC"
    key = (extension.number, request.id)
    # A busy request logs millions of attempts, and counting them all takes seconds (one count per request on
    # each UI page): rows are counted up to a bound, and the page says when there are more.
    bound = max(DELIVERIES_COUNTED, start + count)
    total_row = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM delivery_log WHERE extension = %s AND request_id = %s LIMIT %s) AS s",
        (*key, bound + 1),
    ).fetchone()
    total = int(total_row[0]) if total_row else 0
    rows = conn.execute(
        sql.SQL("SELECT job_id, attempt, event_id, event_type, outcome, status_code, error, duration_ms, attempted_at"
                " FROM delivery_log WHERE extension = %s AND request_id = %s"
                " ORDER BY attempted_at {0}, attempt {0}, job_id LIMIT %s OFFSET %s").format(sql.SQL(direction)),
        (*key, count, start),
    ).fetchall()
    return DeliveryPage([DeliveryView(*row) for row in rows], min(total, bound), start, count,
                        more_than_total=total > bound)
