"""The Event resource: /uapi/extensions/{userId}/{extension}/phoneCallEvents…"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BeforeValidator

from control import service
from control.api.bodies import AddBody, EditBody, documented
from control.api.deps import AppSettings, Db, Extension
from control.api.models import (
    AddRequestBody,
    DeliveryList,
    DeliveryOut,
    DeliveryPaging,
    EditRequestBody,
    ErrorBody,
    EventRequestList,
    EventRequestOut,
    Paging,
    QueuedTest,
    Removed,
)
from control.errors import InvalidInput
from control.service import ExtensionRef, RequestView, SavedRequest
from control.service.queries import MAX_COUNT, MAX_START_INDEX, parse_count, parse_start_index
from control.service.validation import parse_type
from schemas.repeats import repeated, said_once

BASE = "/uapi/extensions/{userId}/{extension}/phoneCallEvents"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in [(400, "invalid input (the code names the field; field_unknown: a body field the resource "
                             "does not have)"), (401, "missing, expired or revoked token"),
                       (404, "no such extension or request, or outside the caller's tenancy"),
                       (503, "the database cannot be reached")]
}
router = APIRouter(prefix=BASE, tags=["phoneCallEvents"], responses=ERRORS)

# Read by the service's parsers before pydantic's int, which also takes "+5", " 5", "1_0" and "5.0".
Count = Annotated[int | None, BeforeValidator(parse_count),
                  Query(ge=1, le=MAX_COUNT, description="page size (default 50)")]
StartIndex = Annotated[int | None, BeforeValidator(parse_start_index),
                       Query(ge=0, le=MAX_START_INDEX, description="0-based index of the first item")]
Text = Annotated[str | None, Query()]
LogOrder = Annotated[str | None, Query(description="descending (newest first, the default) or ascending")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description=(
    "a key of the client's choosing (a UUID): a retried Add with it is not added twice"))]

QUERY_CODES = {"type": "pce_type_invalid", "count": "paging_invalid", "startIndex": "paging_invalid",
               "filterBy": "filter_invalid", "filterValue": "filter_invalid", "sortBy": "sort_invalid",
               "sortOrder": "sort_invalid"}


def query_once(request: Request, extension: Extension) -> None:
    """A list's parameters at most once each (FastAPI would keep the last copy): `count=1&count=1000` is no page
    size. `extension`, unused, checks the token and the tenancy first."""
    if names := repeated(request.query_params.multi_items(), QUERY_CODES):
        raise InvalidInput(QUERY_CODES[names[0]], said_once(names), field=names[0])


QueryOnce = Annotated[None, Depends(query_once)]


def resource(request: Request, extension: ExtensionRef, view: RequestView, secret: str | None = None) -> dict[str, Any]:
    user_id = request.path_params["userId"]
    number = quote(extension.number, safe="")
    user = quote(user_id, safe="@")
    path = f"/uapi/extensions/{user}/{number}/phoneCallEvents/{int(view.type)}/{view.id}"
    body: dict[str, Any] = {
        "id": view.id, "type": int(view.type), "method": 1 if view.method == "POST" else 0, "url": view.url,
        "status": int(view.enabled), "note": view.note, "modified": view.modified,
        "links": {"self": str(request.base_url).rstrip("/") + path}, "signing": view.signing,
    }
    if secret is not None:
        body["secret"] = secret
    return body


def saved(request: Request, extension: ExtensionRef, result: SavedRequest) -> dict[str, Any]:
    return resource(request, extension, result.request, result.secret)


def _page(request: Request, extension: ExtensionRef, page: service.RequestPage) -> dict[str, Any]:
    return {
        "paging": Paging(startIndex=page.start_index, itemsPerPage=len(page.items), totalResults=page.total),
        "entry": [resource(request, extension, item) for item in page.items],
    }


@router.get("", response_model=EventRequestList, response_model_exclude_none=True, summary="ListAll")
def list_all(request: Request, db: Db, extension: Extension, once: QueryOnce, type: Text = None, count: Count = None,
             startIndex: StartIndex = None, filterBy: Text = None, filterValue: Text = None,
             sortBy: Text = None, sortOrder: Text = None) -> dict[str, Any]:
    """The extension's requests; `filterBy` id/url/note (contains) or type/method/status (equals)."""
    query = service.parse_list_query({"type": type, "count": count, "startIndex": startIndex, "filterBy": filterBy,
                                      "filterValue": filterValue, "sortBy": sortBy, "sortOrder": sortOrder})
    return _page(request, extension, service.list_requests(db, extension, query))


@router.post("", status_code=201, response_model=EventRequestOut, response_model_exclude_none=True, summary="Add",
             responses={409: {"model": ErrorBody, "description": "the extension has its maximum of requests"},
                        422: {"model": ErrorBody, "description": "Idempotency-Key used for another Add"}},
             openapi_extra=documented(AddRequestBody))
def add(request: Request, response: Response, db: Db, settings: AppSettings, extension: Extension,
        body: AddBody, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    """Add a request; with `signing: true` the answer carries its secret, this once. With an `Idempotency-Key`,
    a retry of the same Add (within 24 hours) answers with the request the first one made, marked
    `Idempotent-Replayed: true`, instead of adding a second."""
    if len(request.headers.getlist("idempotency-key")) > 1:  # FastAPI would use the first: a retry may not match
        raise InvalidInput("idempotency_key_invalid", "send one Idempotency-Key header, not several",
                           field="Idempotency-Key")
    result = service.add_request(db, settings, extension, body.present(), idempotency_key=idempotency_key)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return saved(request, extension, result)


@router.get("/{type}", response_model=EventRequestList, response_model_exclude_none=True,
            summary="ListAll of one type")
def list_type(request: Request, db: Db, extension: Extension, once: QueryOnce, type: str, count: Count = None,
              startIndex: StartIndex = None, filterBy: Text = None, filterValue: Text = None, sortBy: Text = None,
              sortOrder: Text = None) -> dict[str, Any]:
    """As ListAll, of the path's type; a `type` in the query may only repeat it (ignoring it would list another)."""
    query = service.parse_list_query({"type": type, "count": count, "startIndex": startIndex, "filterBy": filterBy,
                                      "filterValue": filterValue, "sortBy": sortBy, "sortOrder": sortOrder})
    path_type_only(request, type)
    return _page(request, extension, service.list_requests(db, extension, query))


def path_type_only(request: Request, type: str) -> None:
    """A `type` in the query may only repeat the path's: ignoring it would answer for another type."""
    asked = request.query_params.get("type")
    if asked not in (None, "") and parse_type(asked) != parse_type(type):
        raise InvalidInput("pce_type_invalid", f"the query's type {asked!r} is not the path's {type!r}: send the "
                           "type once, in the path", field="type")


@router.delete("/{type}", response_model=Removed, summary="Remove all of one type")
def remove_type(db: Db, extension: Extension, type: str) -> Removed:
    return Removed(removed=service.remove_requests_of_type(db, extension, type))


@router.get("/{type}/{id}", response_model=EventRequestOut, response_model_exclude_none=True, summary="Read")
def read(request: Request, db: Db, extension: Extension, type: str, id: str) -> dict[str, Any]:
    return resource(request, extension, service.get_request(db, extension, type, id))


@router.put("/{type}/{id}", response_model=EventRequestOut, response_model_exclude_none=True, summary="Edit",
            openapi_extra=documented(EditRequestBody))
def edit(request: Request, db: Db, settings: AppSettings, extension: Extension, type: str, id: str,
         body: EditBody) -> dict[str, Any]:
    if body.id is not None and body.id != id:  # another request's resource sent here: refuse to copy it over this one
        raise InvalidInput("pce_id_invalid", f"the body is request {body.id}, the address request {id}: send the "
                           "Edit to the request's own address, or leave id out")
    return saved(request, extension, service.edit_request(db, settings, extension, type, id, body.present()))


@router.delete("/{type}/{id}", response_model=Removed, summary="Remove")
def remove(db: Db, extension: Extension, type: str, id: str) -> Removed:
    service.remove_request(db, extension, type, id)
    return Removed(removed=1)


@router.post("/{type}/{id}/rotateSecret", response_model=EventRequestOut, response_model_exclude_none=True,
             summary="Rotate the signing secret",
             responses={409: {"model": ErrorBody, "description": "the request does not sign (pce_not_signing)"}})
def rotate(request: Request, db: Db, settings: AppSettings, extension: Extension, type: str,
           id: str) -> dict[str, Any]:
    """A new secret (returned this once); the previous one stays valid for the overlap (default 24 h). A request
    that does not sign answers 409 `pce_not_signing`: Edit it with `"signing": true` to give it a secret."""
    return saved(request, extension, service.rotate_secret(db, settings, extension, type, id))


@router.get("/{type}/{id}/deliveries", response_model=DeliveryList, summary="Delivery log")
def deliveries(request: Request, db: Db, extension: Extension, once: QueryOnce, type: str, id: str,
               count: Count = None, startIndex: StartIndex = None, sortOrder: LogOrder = None) -> DeliveryList:
    """The request's delivery attempts, newest first (`sortOrder=ascending`: oldest first). ListAll's `filterBy`,
    `filterValue` and `sortBy` are refused (400 `filter_invalid`, `sort_invalid`), and a `type` other than the
    path's (`pce_type_invalid`)."""
    path_type_only(request, type)
    params = {**request.query_params, "count": count, "startIndex": startIndex, "sortOrder": sortOrder}
    page = service.list_deliveries(db, extension, type, id, params)
    return DeliveryList(
        paging=DeliveryPaging(startIndex=page.start_index, itemsPerPage=len(page.items), totalResults=page.total,
                              totalResultsCapped=page.more_than_total),
        entry=[DeliveryOut(**vars(item)) for item in page.items],
    )


@router.post("/{type}/{id}/test", status_code=202, response_model=QueuedTest, summary="Send a test notification",
             responses={429: {"model": ErrorBody, "description": "10 tests in the last minute (test_throttled)"}})
def send_test(db: Db, extension: Extension, type: str, id: str) -> QueuedTest:
    """Send the request a notification of a synthetic event now (even if it is disabled): CallID `test.…`,
    CallerIDName `CallAPI Events test`, signed as usual. It is sent by the delivery workers like any other, so its
    attempts appear in the request's deliveries under the returned `job_id`."""
    job = service.send_test_notification(db, extension, type, id)
    return QueuedTest(job_id=job.job_id, event_id=job.event_id, call_id=job.params["CallID"])
