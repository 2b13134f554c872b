"""/openapi.json as the API really answers: FastAPI's default 422 is replaced by our 400 error body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
BAD_REQUEST = {"description": "invalid input; `error.code` names the field",
               "content": {"application/json": {"schema": ERROR_REF}}}


def _fix_operation(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    if (operation.get("parameters") or operation.get("requestBody")) and "400" not in responses:
        responses["400"] = BAD_REQUEST


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            for item in document.get("paths", {}).values():
                for operation in item.values():
                    _fix_operation(operation)
            schemas = document.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
