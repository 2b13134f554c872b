"""Every setting of every component, read once from `CALLAPI_*` environment variables.

Bad values fail at start-up with pydantic's message naming the variable. No other module reads the
environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schemas.durations import parse_duration_s
from schemas.topics import TopicNames, TopicSpec, topic_specs

DEFAULT_STACK_DIR = Path(".stack")


def local_stack_dsn(stack_dir: Path = DEFAULT_STACK_DIR) -> str:
    """The DSN of the local stack's PostgreSQL (`callapi-events stack up`), on the port it chose."""
    try:
        port = int((stack_dir / "postgres" / "port").read_text())
    except (FileNotFoundError, ValueError):
        port = 5432
    return f"postgresql://callapi:callapi@127.0.0.1:{port}/callapi"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLAPI_", extra="ignore", frozen=True)

    # Connections (CONTRACT.md)
    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = Field(default_factory=local_stack_dsn)
    topic_prefix: str = "callapi."
    allow_private_urls: bool = False

    # Topics
    partitions: int = Field(12, ge=1, le=10_000)
    replication_factor: int = Field(1, ge=1, le=7)
    call_events_retention_h: int = Field(168, ge=1)
    dlq_retention_h: int = Field(720, ge=1)

    # Local stack
    stack_dir: Path = DEFAULT_STACK_DIR
    cache_dir: Path = Path.home() / ".cache" / "callapi-events"

    # Control plane
    max_requests_per_extension: int = Field(50, ge=1)
    token_ttl_s: int = Field(3600, ge=60)
    secret_overlap_s: int = Field(86_400, ge=0)
    relay_poll_s: float = Field(0.2, gt=0)

    # Control plane: sign-in throttling (failed client credentials, counted in PostgreSQL for every replica)
    sign_in_window_s: int = Field(900, ge=1)
    sign_in_max_failures_per_client: int = Field(10, ge=1)
    sign_in_max_failures_per_address: int = Field(50, ge=1)
    # Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are
    # believed ("" = none)
    trusted_proxies: str = ""
    # Control API and ingest: the most bytes of request line and headers read per request (nginx, Node and h11 read
    # 8-16 KiB); past it, 431 request_header_fields_too_large (414 uri_too_long for the URL alone)
    max_request_head_bytes: int = Field(65_536, ge=1024, le=1_048_576)
    # ... and the longest a request head may take to arrive once it begins; past it, 408 request_timeout
    request_head_timeout_s: float = Field(10.0, gt=0, le=300)

    # Processor
    max_event_bytes: int = Field(65_536, ge=1024)
    # A crashed processor's partitions move to the others after this long (Faust's default is 60 s).
    processor_session_timeout_s: float = Field(10.0, ge=6, le=300)

    # Delivery
    connect_timeout_s: float = Field(3.0, gt=0)
    request_timeout_s: float = Field(10.0, gt=0)
    retry_schedule: Annotated[tuple[float, ...], NoDecode] = (5, 30, 120, 600, 1800, 3600, 10800)
    retry_jitter: float = Field(0.2, ge=0, lt=1)
    max_in_flight: int = Field(512, ge=1)
    max_per_host: int = Field(64, ge=1)
    circuit_failure_threshold: int = Field(5, ge=1)
    circuit_open_s: float = Field(30.0, gt=0)
    delivery_log_retention_days: int = Field(14, ge=1)
    # Delivery workers: jobs allowed to queue behind a host's max_per_host requests; more go to the retry path
    max_waiting_per_host: int = Field(192, ge=0)
    # Delivery workers: a host at its cap that completed nothing for this long is stalled; its jobs are deferred
    host_stall_s: float = Field(1.0, gt=0)
    # Delivery workers: the HTTP client library (delivery/http.py); aiohttp stays selectable
    http_client: Literal["pyreqwest", "aiohttp"] = "pyreqwest"
    # Delivery workers, pyreqwest: destination hosts with a pinned client kept; each costs ~3.6 ms of CPU to build
    # and ~115 kB. A new host takes the slot of a client idle for a minute; while none is, it goes through aiohttp
    max_destinations: int = Field(1024, ge=1)
    # Processors and delivery workers: how often finished offsets are committed; a crashed one's successor
    # repeats (at most) the work finished in this window, so shorter means fewer repeats, one commit request each
    commit_interval_s: float = Field(0.25, gt=0, le=60)
    # Processors and delivery workers: how long the broker may hold a fetch for partitions without new records.
    # A consumer has one fetch in flight per broker, and partitions with records still buffered sit it out, so
    # under load a fetch of only the quiet partitions (config, delay topics) delays the busy ones by up to this
    fetch_max_wait_ms: int = Field(50, ge=1, le=10_000)

    # Producers (SDK, ingest endpoint, simulator, and the processor's jobs)
    producer_linger_ms: int = Field(5, ge=0, le=10_000)
    producer_request_timeout_ms: int = Field(15_000, ge=1000)
    ingest_send_timeout_s: float = Field(10.0, gt=0)
    ingest_retry_after_s: int = Field(5, ge=1)
    ingest_auth_cache_s: float = Field(30.0, ge=0)
    ingest_max_batch: int = Field(1000, ge=1)
    ingest_max_body_bytes: int = Field(1_048_576, ge=1024)
    # Producers (ingest readiness): how long a verdict on reaching Kafka answers /readyz, and the time bound of
    # the metadata request that renews it (keep it under the readiness probe's timeoutSeconds)
    ingest_ready_cache_s: float = Field(5.0, gt=0)
    ingest_ready_timeout_s: float = Field(1.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _database_of_the_stack_dir(cls, data: Any) -> Any:
        """Without CALLAPI_DATABASE_URL, the PostgreSQL of the chosen stack folder (CALLAPI_STACK_DIR or
        stack_dir=), not always the one of `.stack` in the current folder."""
        if isinstance(data, dict) and data.get("database_url") is None and data.get("stack_dir") is not None:
            data = {**data, "database_url": local_stack_dsn(Path(data["stack_dir"]))}
        return data

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        """Accept `5s,30s,2m,…` from the environment."""
        if isinstance(value, str):
            return tuple(parse_duration_s(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _check_schedule(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(delay <= 0 for delay in value):
            raise ValueError("retry_schedule needs at least one positive delay, e.g. 5s,30s,2m")
        return value

    @property
    def topics(self) -> TopicNames:
        return TopicNames(prefix=self.topic_prefix, retry_schedule=self.retry_schedule)

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """`base` (e.g. os.environ) without its CALLAPI_* variables, plus those that reproduce these settings.

        A child process started with it reads exactly these settings.
        """
        env = {k: v for k, v in (base or {}).items() if not k.startswith("CALLAPI_")}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, tuple):
                value = ",".join(f"{v:g}s" for v in value)
            env[f"CALLAPI_{name.upper()}"] = str(value)
        return env

    def topic_specs(self) -> list[TopicSpec]:
        return topic_specs(
            self.topics,
            partitions=self.partitions,
            replication_factor=self.replication_factor,
            call_events_retention_h=self.call_events_retention_h,
            dlq_retention_h=self.dlq_retention_h,
        )
