"""What a replay selects: a time window and optional tenant / extension / request filters. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from processors.errors import ReplayError
from schemas.durations import parse_when as parse_moment
from schemas.extensions import canonical_extension, organization_code, tenant_of


def parse_when(text: str, *, now: datetime) -> datetime:
    try:
        return parse_moment(text, now=now)
    except ValueError as error:
        raise ReplayError(str(error)) from None


@dataclass(frozen=True)
class Window:
    """Record timestamps in [since, until)."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since >= self.until:
            raise ReplayError(f"the window is empty: --since {self.since:%Y-%m-%dT%H:%M:%SZ} is not before "
                              f"--until {self.until:%Y-%m-%dT%H:%M:%SZ}")

    @property
    def since_ms(self) -> int:
        return _epoch_ms(self.since)

    @property
    def until_ms(self) -> int:
        return _epoch_ms(self.until)

    def contains_ms(self, timestamp_ms: int) -> bool:
        return self.since_ms <= timestamp_ms < self.until_ms


def _epoch_ms(moment: datetime) -> int:
    """Milliseconds since 1970, the earliest a record's timestamp (and Kafka's search by time) can be."""
    return max(0, int(moment.timestamp() * 1000))


@dataclass(frozen=True)
class ReplayFilter:
    """Empty sets select everything; several values of one kind are alternatives (OR), kinds combine (AND)."""

    tenants: frozenset[str] = field(default_factory=frozenset)
    extensions: frozenset[str] = field(default_factory=frozenset)
    request_ids: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, *, tenants: list[str], extensions: list[str], request_ids: list[str]) -> ReplayFilter:
        try:
            canonical = frozenset(canonical_extension(ext) for ext in extensions)
            codes = frozenset(t.strip() for t in tenants)
            for code in codes:
                organization_code(code)
        except ValueError as error:
            raise ReplayError(str(error)) from None
        return cls(codes, canonical, frozenset(request_ids))

    def wants_extension(self, extension: str) -> bool:
        if self.extensions and extension not in self.extensions:
            return False
        return not self.tenants or _tenant_matches(tenant_of(extension), self.tenants)

    def wants_request(self, request_id: str) -> bool:
        return not self.request_ids or request_id in self.request_ids


def _tenant_matches(tenant: str, tenants: frozenset[str]) -> bool:
    """`3` and `0003` name the same organization."""
    return tenant in tenants or any(t.zfill(len(tenant)) == tenant for t in tenants)
