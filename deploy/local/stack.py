"""`callapi-events stack up|down|status`: the local real stack, idempotent, touching only what it started."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy.local.kafka import Kafka
from deploy.local.postgres import Postgres


@dataclass
class Stack:
    kafka: Kafka
    postgres: Postgres

    @classmethod
    def at(cls, stack_dir: Path, cache_dir: Path) -> Stack:
        stack_dir = stack_dir.resolve()
        return cls(
            kafka=Kafka(stack_dir=stack_dir, cache_dir=cache_dir.resolve()),
            postgres=Postgres(stack_dir=stack_dir),
        )

    def up(self) -> dict[str, str]:
        return {"postgresql": self.postgres.up(), "kafka": self.kafka.up()}

    def down(self) -> dict[str, str]:
        return {"kafka": self.kafka.down(), "postgresql": self.postgres.down()}

    def status(self) -> dict[str, str]:
        return {"kafka": self.kafka.status(), "postgresql": self.postgres.status()}
