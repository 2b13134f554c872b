"""The service layer on the real PostgreSQL: Event resource operations, tenancy, cap, secrets, outbox rows."""

from __future__ import annotations

import re
import threading
from typing import Any

import psycopg
import pytest

from control.errors import InvalidInput, LimitReached, NotFound, NotSigning
from control.service import (
    Caller,
    add_request,
    create_organization,
    create_provider,
    edit_request,
    get_request,
    list_extensions,
    list_requests,
    parse_list_query,
    remove_request,
    remove_requests_of_type,
    resolve_extension,
    rotate_secret,
)
from schemas.request_rows import extension_requests
from schemas.settings import Settings
from tests.control.tenants import Tenant, make_tenant
from tests.polling import eventually

URL = "http://127.0.0.1:9/hook"


def outbox_rows(conn: psycopg.Connection[Any], number: str) -> int:
    row = conn.execute("SELECT count(*) FROM outbox WHERE extension = %s", (number,)).fetchone()
    return int(row[0]) if row else 0


def test_add_read_edit_remove(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    ext = tenant.extension
    saved = add_request(conn, settings, ext, {"type": "0", "method": "POST", "url": URL, "note": "crm"})
    request = saved.request
    assert re.fullmatch(r"[A-Za-z0-9]{1,255}", request.id)
    assert (request.type, request.method, request.url, request.enabled, request.note, request.signing) == (
        0, "POST", URL, True, "crm", False)
    assert saved.secret is None
    edited = edit_request(conn, settings, ext, 0, request.id, {"status": "0", "note": "off", "method": 0})
    assert (edited.request.enabled, edited.request.note, edited.request.method) == (False, "off", "GET")
    assert edited.request.modified >= request.modified
    assert get_request(conn, ext, "dial-in", request.id) == edited.request
    with pytest.raises(NotFound):
        get_request(conn, ext, 1, request.id)  # same id, other type: not found
    remove_request(conn, ext, 0, request.id)
    with pytest.raises(NotFound):
        get_request(conn, ext, 0, request.id)
    assert outbox_rows(conn, ext.number) == 3


def test_an_edit_that_changes_nothing_keeps_modified_and_publishes_nothing(
        conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    ext = tenant.extension
    request = add_request(conn, settings, ext, {"type": 1, "method": "POST", "url": URL, "note": "crm"}).request
    for same in ({}, {"type": "1", "method": 1, "url": URL, "status": 1, "note": "crm", "signing": False}):
        assert edit_request(conn, settings, ext, 1, request.id, same).request == request
    assert outbox_rows(conn, ext.number) == 1  # the Add's only
    changed = edit_request(conn, settings, ext, 1, request.id, {"note": "crm", "status": 0}).request
    assert changed.enabled is False and changed.modified > request.modified
    assert outbox_rows(conn, ext.number) == 2


def test_request_ids_are_unique_alphanumeric(conn: psycopg.Connection[Any], settings: Settings,
                                             tenant: Tenant) -> None:
    ids = {add_request(conn, settings, tenant.extension, {"type": 2, "url": URL}).request.id for _ in range(20)}
    assert len(ids) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9]+", i) for i in ids)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"url": URL}, "pce_type_invalid"),
        ({"type": 5, "url": URL}, "pce_type_invalid"),
        ({"type": "x", "url": URL}, "pce_type_invalid"),
        ({"type": True, "url": URL}, "pce_type_invalid"),
        ({"type": 0, "url": URL, "method": 2}, "pce_method_invalid"),
        ({"type": 0, "url": URL, "method": "PUT"}, "pce_method_invalid"),
        ({"type": 0, "url": URL, "status": 2}, "pce_status_invalid"),
        ({"type": 0, "url": URL, "note": "x" * 1025}, "pce_note_invalid"),
        ({"type": 0, "url": URL, "note": 7}, "pce_note_invalid"),
        ({"type": 0}, "pce_url_invalid"),
        ({"type": 0, "url": "ftp://example.com/"}, "pce_url_invalid"),
        ({"type": 0, "url": "http://example.com/" + "a" * 2048}, "pce_url_invalid"),
        ({"type": 0, "url": "http://user:pw@example.com/"}, "pce_url_invalid"),
        ({"type": 0, "url": URL, "signing": "maybe"}, "pce_signing_invalid"),
    ],
)
def test_invalid_input_is_refused_with_its_code(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant,
                                                data: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        add_request(conn, settings, tenant.extension, data)
    assert caught.value.code == code
    assert list_requests(conn, tenant.extension, parse_list_query({})).total == 0
    assert outbox_rows(conn, tenant.extension.number) == 0


def test_numbers_as_strings_and_names(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    saved = add_request(conn, settings, tenant.extension,
                        {"type": "answer-out", "method": "get", "status": "1", "url": URL})
    assert (saved.request.type, saved.request.method, saved.request.enabled) == (4, "GET", True)


def test_cap_per_extension(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    settings = settings.model_copy(update={"max_requests_per_extension": 2})
    for _ in range(2):
        add_request(conn, settings, tenant.extension, {"type": 0, "url": URL})
    with pytest.raises(LimitReached) as caught:
        add_request(conn, settings, tenant.extension, {"type": 1, "url": URL})
    assert caught.value.code == "pce_limit_reached"
    assert list_requests(conn, tenant.extension, parse_list_query({})).total == 2


def test_list_paging_filter_sort(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    ext = tenant.extension
    for index in range(5):
        add_request(conn, settings, ext, {"type": index % 2, "url": f"{URL}/{index}", "note": f"n{index}",
                                          "status": index % 2})
    page = list_requests(conn, ext, parse_list_query({"count": "2", "startIndex": "1"}))
    assert (page.total, [r.url for r in page.items]) == (5, [f"{URL}/1", f"{URL}/2"])
    assert list_requests(conn, ext, parse_list_query({"type": "1"})).total == 2
    assert [r.note for r in list_requests(conn, ext, parse_list_query(
        {"filterBy": "note", "filterValue": "N3"})).items] == ["n3"]
    assert list_requests(conn, ext, parse_list_query({"filterBy": "status", "filterValue": "0"})).total == 3
    assert list_requests(conn, ext, parse_list_query({"filterBy": "method", "filterValue": "GET"})).total == 5
    newest_first = list_requests(conn, ext, parse_list_query({"sortOrder": "descending"}))
    assert newest_first.items[0].url == f"{URL}/4"
    for bad, code in [({"count": "0"}, "paging_invalid"), ({"startIndex": "-1"}, "paging_invalid"),
                      ({"count": "x"}, "paging_invalid"), ({"filterBy": "secret", "filterValue": "a"},
                      "filter_invalid"), ({"filterBy": "url"}, "filter_invalid"),
                      ({"sortOrder": "up"}, "sort_invalid"), ({"type": "9"}, "pce_type_invalid")]:
        with pytest.raises(InvalidInput) as caught:
            parse_list_query(bad)
        assert caught.value.code == code, bad


def test_remove_all_of_a_type(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    ext = tenant.extension
    for type_ in (2, 2, 3):
        add_request(conn, settings, ext, {"type": type_, "url": URL})
    assert remove_requests_of_type(conn, ext, "hangup") == 2
    assert [r.type for r in list_requests(conn, ext, parse_list_query({})).items] == [3]


def test_signing_secrets(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    ext = tenant.extension
    saved = add_request(conn, settings, ext, {"type": 0, "url": URL, "signing": True})
    assert saved.secret is not None and re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", saved.secret)
    assert saved.request.signing is True
    rotated = rotate_secret(conn, settings, ext, 0, saved.request.id)
    assert rotated.secret not in (None, saved.secret)
    published = extension_requests(conn, ext.number)
    assert published[0].signing_secrets == (rotated.secret, saved.secret)  # newest first, old one overlaps
    again = edit_request(conn, settings, ext, 0, saved.request.id, {"signing": True})
    assert again.secret is None  # already signing: rotate to change it
    off = edit_request(conn, settings, ext, 0, saved.request.id, {"signing": "false"})
    assert off.request.signing is False
    assert extension_requests(conn, ext.number)[0].signing_secrets == ()
    with pytest.raises(NotSigning, match="does not sign"):
        rotate_secret(conn, settings, ext, 0, saved.request.id)  # not a way to switch signing on
    assert extension_requests(conn, ext.number)[0].signing_secrets == ()
    on = edit_request(conn, settings, ext, 0, saved.request.id, {"signing": 1})
    assert on.secret is not None and on.request.signing


def test_expired_secrets_are_not_published(conn: psycopg.Connection[Any], settings: Settings,
                                           tenant: Tenant) -> None:
    settings = settings.model_copy(update={"secret_overlap_s": 0})
    saved = add_request(conn, settings, tenant.extension, {"type": 0, "url": URL, "signing": True})
    rotated = rotate_secret(conn, settings, tenant.extension, 0, saved.request.id)
    assert extension_requests(conn, tenant.extension.number)[0].signing_secrets == (rotated.secret,)


def test_tenancy(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    number = tenant.extension.number
    assert resolve_extension(conn, tenant.org_caller, "@me", number) == tenant.extension
    assert resolve_extension(conn, tenant.provider_caller, str(tenant.org.id), number.replace("*", "")) \
        == tenant.extension
    assert resolve_extension(conn, tenant.provider_caller, "@me", number) == tenant.extension
    assert list_extensions(conn, tenant.provider_caller) == [tenant.extension]
    stranger = make_tenant(conn)
    sibling = make_tenant(conn, provider=tenant.provider)
    for caller, user_id in [(stranger.org_caller, "@me"), (stranger.provider_caller, "@me"),
                            (stranger.org_caller, str(tenant.org.id)), (sibling.org_caller, "@me"),
                            (sibling.org_caller, str(tenant.org.id)), (tenant.org_caller, "nobody"),
                            (Caller(10**12, "provider"), "@me")]:
        with pytest.raises(NotFound):
            resolve_extension(conn, caller, user_id, number)
    with pytest.raises(InvalidInput) as caught:
        resolve_extension(conn, tenant.org_caller, "@me", "21O")
    assert caught.value.code == "extension_invalid"


def test_two_organizations_created_at_once_with_one_code_leave_one_and_refuse_the_other(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        provider = create_provider(conn, "racing")
        taken = {int(code) for (code,) in conn.execute(
            "SELECT code FROM accounts WHERE kind = 'organization' AND code ~ '^[0-9]+$'").fetchall()}
    code = f"{min(set(range(9000, 9999)) - taken):04d}"
    with psycopg.connect(database_url) as first, psycopg.connect(database_url, autocommit=True) as second:
        first.execute("SELECT 1")  # a transaction left open: the creation below stays uncommitted in it
        create_organization(first, provider.id, code, "first")  # the second waits on its row
        refused: list[Exception] = []

        def create_second() -> None:
            try:
                create_organization(second, provider.id, code, "second")
            except Exception as error:  # what it raised is the finding
                refused.append(error)

        racer = threading.Thread(target=create_second)
        racer.start()
        with psycopg.connect(database_url, autocommit=True) as watcher:
            waiting = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO accounts%'")
            assert eventually(lambda: watcher.execute(waiting).fetchone() != (0,)), "the second creation never waited"
        first.commit()
        racer.join(timeout=30)
    (error,) = refused
    assert isinstance(error, InvalidInput) and error.code == "code_taken"
