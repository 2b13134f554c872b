"""The whole pipeline as real subprocesses (Control API with its relay, processor, delivery worker)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg

from schemas.settings import Settings
from tests.services import Service, all_ready


@dataclass(frozen=True)
class Pipeline:
    api: Service
    processor: Service
    deliverer: Service


@contextlib.contextmanager
def running_pipeline(settings: Settings) -> Iterator[Pipeline]:
    pipeline = Pipeline(*(Service(settings, command) for command in ("api", "processor", "deliver")))
    with all_ready(pipeline.api, pipeline.processor, pipeline.deliverer):
        yield pipeline


def free_tenant_base(database_url: str, organizations: int) -> int:
    """A block of free 4-digit organization codes."""
    with psycopg.connect(database_url) as conn:
        taken = {int(code) for (code,) in conn.execute(
            "SELECT code FROM accounts WHERE kind = 'organization'").fetchall()}
    for base in range(9000 - organizations, 1000, -organizations):
        if not taken.intersection(range(base, base + organizations)):
            return base
    raise RuntimeError("no free block of organization codes")
