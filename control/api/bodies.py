"""The JSON bodies of Add and Edit, read only once the caller is known and may reach the extension.

FastAPI decodes a declared body before any dependency runs, so a caller without a token would be told about its
JSON (400) instead of being asked to sign in (401), and another tenant's caller would learn that its body was
read (400) where the extension must look missing (404). Reading the body in a dependency that depends on
`Extension` puts authentication and tenancy first. The routes declare the body in OpenAPI with `documented`.
"""

from __future__ import annotations

import email.message
import json
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from control.api.deps import Extension
from control.api.models import AddRequestBody, EditRequestBody
from control.errors import InvalidInput
from schemas import strict_json

Body = TypeVar("Body", bound=EditRequestBody)
MODELS: tuple[type[EditRequestBody], ...] = (AddRequestBody, EditRequestBody)  # openapi.py lists their schemas
NAMED_AT_MOST = 10
EXAMPLE = 'e.g. {"type": 0, "url": "https://…"}'


def documented(model: type[EditRequestBody]) -> dict[str, Any]:
    """The route's `openapi_extra`: its body, required, as a JSON object of `model`."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _is_json(content_type: str | None) -> bool:
    """JSON, or no Content-Type at all: clients that omit it were always read as JSON."""
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _not_json(reason: str, position: int | None = None) -> RequestValidationError:
    """The error FastAPI raises for undecodable JSON, so errors.py words it as before."""
    return RequestValidationError([{"type": "json_invalid", "loc": ("body", *(() if position is None else (position,))),
                                    "msg": "JSON decode error", "input": {}, "ctx": {"error": reason}}])


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise InvalidInput("request_invalid", f"the request body is empty: send a JSON object, {EXAMPLE}")
    if not _is_json(request.headers.get("content-type")):
        raise InvalidInput("request_invalid", "send the body as JSON with Content-Type: application/json, "
                           f"{EXAMPLE}")
    try:
        return strict_json.loads(raw)
    except strict_json.RepeatedName as error:
        raise InvalidInput("request_invalid", f"the body names {error.name!r} more than once: send each field "
                           "once") from None
    except strict_json.NotANumber as error:
        raise _not_json(f"{error} is not a JSON number") from None
    except json.JSONDecodeError as error:
        raise _not_json(error.msg, error.pos) from None
    except strict_json.NotUtf8 as error:
        raise _not_json(str(error)) from None
    except ValueError:  # the only other one: an integer past Python's limit of digits
        raise _not_json("a number has too many digits") from None
    except RecursionError:
        raise _not_json("it nests too deeply") from None


def _unknown_fields(model: type[EditRequestBody], names: list[str]) -> InvalidInput:
    named = sorted(names)[:NAMED_AT_MOST]  # the caller chose them: a body of a million keys gets a short answer
    unknown = ", ".join(named) + (f" and {len(names) - len(named)} more" if len(names) > len(named) else "")
    return InvalidInput("field_unknown", f"unknown field{'s' if len(names) > 1 else ''} {unknown}: check the "
                        f"spelling; the fields are {', '.join(model.writable())} (and the read-only "
                        f"{', '.join(model.read_only())}, which are ignored)")


async def _parse(request: Request, model: type[Body]) -> Body:
    data = await _json(request)
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        problems = invalid.errors()
        if unknown := [str(problem["loc"][0]) for problem in problems if problem["type"] == "extra_forbidden"]:
            raise _unknown_fields(model, unknown) from None  # first: a misspelt field explains the rest
        raise RequestValidationError([{**problem, "loc": ("body", *problem["loc"])} for problem in problems]) from None


# `extension` is unused: asking for it is what makes FastAPI check the token and the tenancy first
async def add_body(request: Request, extension: Extension) -> AddRequestBody:
    return await _parse(request, AddRequestBody)


async def edit_body(request: Request, extension: Extension) -> EditRequestBody:
    return await _parse(request, EditRequestBody)


AddBody = Annotated[AddRequestBody, Depends(add_body)]
EditBody = Annotated[EditRequestBody, Depends(edit_body)]
