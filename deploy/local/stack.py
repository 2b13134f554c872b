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
    def at(cls, stack_dir: Path, cache_dir: Path, kafka_bootstrap: str = "127.0.0.1:9092") -> Stack:
        """The stack in `stack_dir`; Kafka listens on the port of `kafka_bootstrap` (controller: port + 1)."""
        stack_dir = stack_dir.resolve()
        port = int(kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])
        return cls(
            kafka=Kafka(stack_dir=stack_dir, cache_dir=cache_dir.resolve(), port=port, controller_port=port + 1),
            postgres=Postgres(stack_dir=stack_dir),
        )

    def up(self) -> dict[str, str]:
        return {"postgresql": self.postgres.up(), "kafka": self.kafka.up()}

    def down(self) -> dict[str, str]:
        return {"kafka": self.kafka.down(), "postgresql": self.postgres.down()}

    def status(self) -> dict[str, str]:
        return {"kafka": self.kafka.status(), "postgresql": self.postgres.status()}
