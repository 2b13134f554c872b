"""Errors of the wire layer.

SchemaError
└── InvalidRecord: bytes that are not a valid record of the expected model; `reason` is a short
    machine-readable code (`invalid_json`, `schema_invalid`, `too_large`) and `detail` says what was wrong.
"""

from __future__ import annotations


class SchemaError(Exception):
    """Root of the wire layer's errors."""


class InvalidRecord(SchemaError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
