"""Changes to the Event resource: Add, Edit, Remove (one, or all of a type) and rotateSecret.

Each change writes its rows and an outbox row in one transaction, so the relay publishes exactly what
was committed. Pass an autocommit connection (or commit yourself afterwards).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

import psycopg

from control.errors import LimitReached, NotFound, NotSigning
from control.service import idempotency, signing
from control.service.outbox import enqueue_change
from control.service.queries import get_request
from control.service.tenancy import ExtensionRef, lock_extension
from control.service.validation import (
    parse_method,
    parse_note,
    parse_signing,
    parse_status,
    parse_type,
    parse_url,
)
from control.service.views import RequestView, SavedRequest
from schemas.settings import Settings

ID_ALPHABET = string.ascii_letters + string.digits
ID_CHARS = 20
_ID_ATTEMPTS = 5
EDITABLE = ("type", "method", "url", "status", "note")
_COLUMN_OF = {"status": "enabled"}


def new_request_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_CHARS))


def parse_fields(data: Mapping[str, Any], settings: Settings, *, partial: bool) -> dict[str, Any]:
    """Validate the fields of an Add (`partial=False`: defaults filled in) or an Edit (only those present)."""
    if not partial:
        data = {"method": 0, "status": 1, "note": "", "signing": False, **data}
        data.setdefault("type", None)
        data.setdefault("url", None)
    parsers = {
        "type": lambda v: int(parse_type(v)),
        "method": lambda v: parse_method(v).value,
        "url": lambda v: parse_url(v, allow_private=settings.allow_private_urls),
        "status": parse_status,
        "note": parse_note,
        "signing": parse_signing,
    }
    return {name: parse(data[name]) for name, parse in parsers.items() if name in data}


def _check_cap(conn: psycopg.Connection[Any], extension: ExtensionRef, cap: int) -> None:
    row = conn.execute("SELECT count(*) FROM event_requests WHERE extension_id = %s", (extension.id,)).fetchone()
    if row is not None and row[0] >= cap:
        raise LimitReached(f"extension {extension.number} already has {row[0]} requests, the maximum is {cap}: "
                           "remove one to add another")


def _insert(conn: psycopg.Connection[Any], extension: ExtensionRef, fields: dict[str, Any]) -> str:
    for _ in range(_ID_ATTEMPTS):
        request_id = new_request_id()
        inserted = conn.execute(
            "INSERT INTO event_requests (extension_id, id, type, method, url, enabled, note)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            (extension.id, request_id, fields["type"], fields["method"], fields["url"], fields["status"],
             fields["note"]),
        ).fetchone()
        if inserted is not None:
            return request_id
    raise RuntimeError("could not generate a unique Request ID")  # 62^20 ids: practically unreachable


def add_request(conn: psycopg.Connection[Any], settings: Settings, extension: ExtensionRef,
                data: Mapping[str, Any], *, idempotency_key: str | None = None) -> SavedRequest:
    """Add: `data` has type, url and optionally method (GET), status (1), note (""), signing (false). With an
    `idempotency_key` used before for the same fields, the request that Add made (see service/idempotency.py)."""
    fields = parse_fields(data, settings, partial=False)
    key = None if idempotency_key is None else idempotency.parse_key(idempotency_key)
    print_ = idempotency.fingerprint(fields)
    with conn.transaction():
        lock_extension(conn, extension)
        if key is not None and (earlier := idempotency.added_before(conn, extension, key, print_)) is not None:
            return _added_before(conn, extension, fields["type"], earlier)
        _check_cap(conn, extension, settings.max_requests_per_extension)
        request_id = _insert(conn, extension, fields)
        secret = signing.add_secret(conn, extension, request_id) if fields["signing"] else None
        if key is not None:
            idempotency.remember(conn, extension, key, print_, request_id)
        enqueue_change(conn, extension)
        request = get_request(conn, extension, fields["type"], request_id)
    return SavedRequest(request, secret)


def _added_before(conn: psycopg.Connection[Any], extension: ExtensionRef, type_: int, request_id: str) -> SavedRequest:
    try:
        request = get_request(conn, extension, type_, request_id)
    except NotFound:
        raise NotFound(f"the request added with this Idempotency-Key ({request_id}) was removed since") from None
    secret = signing.current_secret(conn, extension, request_id) if request.signing else None
    return SavedRequest(request, secret, replayed=True)


def _update(conn: psycopg.Connection[Any], extension: ExtensionRef, request_id: str, fields: dict[str, Any]) -> None:
    columns = [(_COLUMN_OF.get(name, name), fields[name]) for name in EDITABLE if name in fields]
    assignments = ", ".join(f"{column} = %s" for column, _ in columns)  # names from EDITABLE only
    if fields.get("status") is True:
        assignments += ", disabled_reason = NULL"
    conn.execute(
        f"UPDATE event_requests SET {assignments}{', ' if assignments else ''}modified = now()"
        " WHERE extension_id = %s AND id = %s",
        (*(value for _, value in columns), extension.id, request_id),
    )


def _changes(current: RequestView, fields: dict[str, Any]) -> bool:
    """Whether an Edit of these fields changes anything: if not, `modified` stays and nothing is republished."""
    now = {"type": int(current.type), "method": str(current.method), "url": current.url, "status": current.enabled,
           "note": current.note, "signing": current.signing}
    return any(now[name] != value for name, value in fields.items())


def edit_request(conn: psycopg.Connection[Any], settings: Settings, extension: ExtensionRef, type_: object,
                 request_id: object, data: Mapping[str, Any]) -> SavedRequest:
    """Edit the fields present in `data` (type, method, url, status, note, signing); others stay.

    `signing: true` on a request that does not sign yet generates its secret (returned once); on one that
    already signs it changes nothing (use rotate_secret). `signing: false` removes its secrets.
    """
    fields = parse_fields(data, settings, partial=True)
    with conn.transaction():
        lock_extension(conn, extension)
        current = get_request(conn, extension, type_, request_id, for_update=True)
        if not _changes(current, fields):  # an empty Edit, or the resource sent back as it is
            return SavedRequest(current)
        _update(conn, extension, current.id, fields)
        secret = None
        if fields.get("signing") is True and not current.signing:
            secret = signing.add_secret(conn, extension, current.id)
        elif fields.get("signing") is False:
            signing.remove_secrets(conn, extension, current.id)
        enqueue_change(conn, extension)
        request = get_request(conn, extension, fields.get("type", current.type), current.id)
    return SavedRequest(request, secret)


def rotate_secret(conn: psycopg.Connection[Any], settings: Settings, extension: ExtensionRef, type_: object,
                  request_id: object) -> SavedRequest:
    """A new secret (returned once); the previous one stays valid for Settings.secret_overlap_s. A request that
    does not sign is refused: rotating is not the way to switch signing on (its receiver may not verify yet)."""
    with conn.transaction():
        lock_extension(conn, extension)
        current = get_request(conn, extension, type_, request_id, for_update=True)
        if not current.signing:
            raise NotSigning(f"request {current.id} does not sign, so it has no secret to rotate: Edit it with "
                             '"signing": true to give it one')
        secret = signing.rotate(conn, extension, current.id, overlap_s=settings.secret_overlap_s)
        conn.execute("UPDATE event_requests SET modified = now() WHERE extension_id = %s AND id = %s",
                     (extension.id, current.id))
        enqueue_change(conn, extension)
        request = get_request(conn, extension, current.type, current.id)
    return SavedRequest(request, secret)


def remove_request(conn: psycopg.Connection[Any], extension: ExtensionRef, type_: object, request_id: object) -> None:
    """Remove one request (its secrets go with it); NotFound when there is no such request of that type."""
    with conn.transaction():
        lock_extension(conn, extension)
        current = get_request(conn, extension, type_, request_id, for_update=True)
        conn.execute("DELETE FROM event_requests WHERE extension_id = %s AND id = %s", (extension.id, current.id))
        enqueue_change(conn, extension)


def remove_requests_of_type(conn: psycopg.Connection[Any], extension: ExtensionRef, type_: object) -> int:
    """Remove every request of one type (VoipNow's DELETE without an id); returns how many went."""
    event_type = parse_type(type_)
    with conn.transaction():
        lock_extension(conn, extension)
        removed = conn.execute(
            "DELETE FROM event_requests WHERE extension_id = %s AND type = %s", (extension.id, int(event_type))
        ).rowcount
        if removed:
            enqueue_change(conn, extension)
    return removed
