"""Every failure answers `{"error": {"code", "message"}}`: ControlError codes, FastAPI's validation errors
mapped to the offending field's code, unknown routes, and an unreachable or unmigrated database (503)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from control.errors import ControlError, Throttled, Unauthorized

log = logging.getLogger(__name__)

FIELD_CODES = {
    "type": "pce_type_invalid", "method": "pce_method_invalid", "url": "pce_url_invalid",
    "status": "pce_status_invalid", "note": "pce_note_invalid", "signing": "pce_signing_invalid",
    "id": "pce_id_invalid", "extension": "extension_invalid", "count": "paging_invalid",
    "startIndex": "paging_invalid", "grant_type": "invalid_request", "client_id": "invalid_request",
    "client_secret": "invalid_request", "token": "invalid_request",
}
REQUIRED = {"type": "0-4 or dial-in, dial-out, hangup, answer-in, answer-out",
            "url": "the http(s) URL to notify"}  # what an Add must have, said as the service says it
ROUTED_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")  # the Allow header lists those the path takes
UI_PREFIX = "/ui/"
OAUTH_PREFIX = "/oauth/"
UI_PAGES = {404: ("Not found", "There is no such page. Start again from your extensions."),
            405: ("Not available", "This address does not answer that way. Start again from your extensions."),
            500: ("Something went wrong", "An unexpected error occurred; it has been logged. Try again in a moment, "
                  "or start again from your extensions.")}
TRAILING_SLASH = "Not Found: no API path ends with '/'; send the path without the trailing slash"
HTTP_CODES = {400: "request_invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed"}  # 400: e.g. a multipart body Starlette cannot read


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _control_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ControlError)
    headers = {"WWW-Authenticate": error.challenge} if isinstance(error, Unauthorized) else None
    if isinstance(error, Throttled):
        headers = {"Retry-After": str(error.retry_after_s)}
    return error_response(error.status, error.code, error.message, headers)


def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    first: dict[str, Any] = error.errors()[0] if error.errors() else {}
    location = [str(part) for part in first.get("loc", ())]
    if first.get("type") == "json_invalid":  # its location is a character position, not a field
        where = f" at character {location[1]}" if len(location) > 1 else ""
        reason = first.get("ctx", {}).get("error", "JSON decode error")
        return error_response(400, "request_invalid", f"the request body is not valid JSON: {reason}{where}; "
                              "send a JSON object, e.g. {\"type\": 0, \"url\": \"https://…\"}")
    field = location[1] if len(location) > 1 else None
    code = FIELD_CODES.get(field or "", "request_invalid")
    if location == ["body"] and first.get("type") in ("model_type", "model_attributes_type", "dict_type"):
        return error_response(400, code, "the request body must be a JSON object, e.g. "
                              "{\"type\": 0, \"url\": \"https://…\"}")  # not a list, a string or a number
    if field in REQUIRED and (first.get("type") == "missing" or ("input" in first and first["input"] is None)):
        return error_response(400, code, f"{field} is required: {REQUIRED[field]}")
    where = field or "request body"
    return error_response(400, code, f"{where}: {first.get('msg', 'invalid')}")


def _allowed_methods(request: Request) -> str:
    """Every method the path takes: Starlette's 405 names only those of the first route that matched it."""
    routes = request.app.router.routes
    methods = [method for method in ROUTED_METHODS if method != "HEAD" or not request.url.path.startswith(UI_PREFIX)]
    return ", ".join(method for method in methods if any(
        route.matches({**request.scope, "method": "GET" if method == "HEAD" else method})[0] == Match.FULL
        for route in routes))  # HEAD wherever GET, but on the UI's pages (head.py)


def refusal(request: Request, status: int, message: str) -> Response:
    """The answer to a request refused before routing: JSON in the error shape, or a page under /ui/."""
    return _http_error(request, HTTPException(status, message))


def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = HTTP_CODES.get(error.status_code, "http_error")
    message = str(error.detail)
    path = request.url.path
    if error.status_code == 404 and path.endswith("/") and path != "/" and message == "Not Found":
        message = TRAILING_SLASH  # app.py turns Starlette's redirect off: a client would resend a POST body
    if error.status_code == 400 and path.startswith(OAUTH_PREFIX):
        code = "invalid_request"  # RFC 6749 5.2 and RFC 7009 2.2.1 name a request they cannot read so
    headers = getattr(error, "headers", None)
    if error.status_code == 405 and (allowed := _allowed_methods(request)):
        headers = {**(headers or {}), "Allow": allowed}
    if path.startswith(UI_PREFIX):  # a person with a browser: a page, not JSON
        return _ui_page(error.status_code, headers)
    return error_response(error.status_code, code, message, headers)


def _ui_page(status: int, headers: dict[str, str] | None) -> Response:
    from control.ui.render import error_page  # here: control.ui imports control.api

    title, message = UI_PAGES.get(status, ("Error", "This request cannot be answered."))
    page = error_page(status, title, message)
    page.headers.update(headers or {})
    return page


def _database_down(_: Request, error: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", error)
    return error_response(503, "service_unavailable", "the database cannot be reached; retry shortly")


def _not_migrated(_: Request, error: Exception) -> JSONResponse:
    log.error("the database is not migrated (%s): run `callapi-events db migrate`", error)
    return error_response(503, "service_unavailable",
                          "the database is not migrated yet; retry once `callapi-events db migrate` has run")


def _unstorable(_: Request, error: Exception) -> JSONResponse:
    return error_response(400, "request_invalid", f"a value cannot be stored: {error}")


def _unexpected(request: Request, error: Exception) -> Response:
    log.exception("unexpected error", exc_info=error)
    if request.url.path.startswith(UI_PREFIX):  # a person with a browser: a page, not JSON
        return _ui_page(500, None)
    return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ControlError, _control_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(psycopg.OperationalError, _database_down)
    app.add_exception_handler(psycopg.errors.UndefinedTable, _not_migrated)
    app.add_exception_handler(psycopg.DataError, _unstorable)
    app.add_exception_handler(Exception, _unexpected)
