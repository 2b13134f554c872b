"""Fast JSON encoding and decoding of wire models (pydantic-core does the work in Rust)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.errors import InvalidRecord

M = TypeVar("M", bound=BaseModel)


def encode(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


def encode_list(adapter: TypeAdapter[Any], items: list[Any]) -> bytes:
    return adapter.dump_json(items)


def _reason(error: ValidationError) -> InvalidRecord:
    first = error.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return InvalidRecord("invalid_json", first["msg"])
    location = ".".join(str(part) for part in first["loc"]) or "record"
    return InvalidRecord("schema_invalid", f"{location}: {first['msg']}")


def decode(model: type[M], data: bytes | str, *, max_bytes: int | None = None) -> M:
    """Parse and validate `data`, or raise InvalidRecord with a reason code and detail."""
    if max_bytes is not None and len(data) > max_bytes:
        raise InvalidRecord("too_large", f"{len(data)} bytes is over the {max_bytes}-byte cap")
    try:
        return model.model_validate_json(data)
    except ValidationError as error:
        raise _reason(error) from None


def decode_list(adapter: TypeAdapter[list[M]], data: bytes | str) -> list[M]:
    try:
        return adapter.validate_json(data)
    except ValidationError as error:
        raise _reason(error) from None
