"""/openapi.json as the API really answers: FastAPI's default 422 is replaced by our 400 error body, and the
bodies read after authentication (bodies.py), which FastAPI does not see, get their schemas."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from control.api.bodies import MODELS

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
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            _, bodies = models_json_schema([(model, "validation") for model in MODELS],
                                           ref_template="#/components/schemas/{model}")
            schemas.update(bodies.get("$defs", {}))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
