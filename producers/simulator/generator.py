"""The traffic generator: an endless, time-ordered stream of CallEvents. Pure: a function of the plan
(seed included) and the start instant, so the same seed and start give the same events, ids included.

Calls start as a Poisson process whose rate makes the event rate about `rate_eps`; each call's events
are merged into one timeline by time, and the timeline starts `warmup_s` early so the run opens in a
steady state. Event ids are UUIDv7 built from the event's
time and random bits drawn from the seed.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from producers.ids import uuid7
from producers.simulator.population import COUNTRIES, Population, SimTenant, build_population
from producers.simulator.scenarios import (
    DIAL_GAP_S,
    Scheduled,
    call_timing,
    inbound_call,
    internal_call,
    outbound_call,
    outside_party,
)
from schemas.events import CallEvent

EVENTS_PER_CALL = {"internal": (6, 4), "inbound": (3, 2), "outbound": (3, 2)}
"""(answered, unanswered) events of each scenario."""


@dataclass(frozen=True)
class Plan:
    seed: int = 1
    organizations: int = 10
    extensions: int = 20
    rate_eps: float = 100.0
    skew: float = 1.1
    answered_ratio: float = 0.7
    internal_share: float = 0.3
    inbound_share: float = 0.4
    """the rest of the calls are outbound"""
    max_call_s: float = 120.0
    tenant_base: int = 1
    warmup_s: float = 60.0
    """calls are simulated from this long before the start, so the run begins in a steady state (calls
    already in progress, the full mix of event types) instead of ramping up; their earlier events are dropped"""

    def population(self) -> Population:
        return build_population(
            seed=self.seed, organizations=self.organizations, extensions=self.extensions, skew=self.skew,
            tenant_base=self.tenant_base,
        )

    def mean_events_per_call(self) -> float:
        internal = self.internal_share if self.extensions > 1 else 0.0
        shares = {"internal": internal, "inbound": 1.0 - internal - self.outbound_share,
                  "outbound": self.outbound_share}
        p = self.answered_ratio
        return sum(share * (p * ans + (1 - p) * unans) for share, (ans, unans) in
                   ((shares[k], EVENTS_PER_CALL[k]) for k in shares))

    @property
    def outbound_share(self) -> float:
        return max(0.0, 1.0 - self.internal_share - self.inbound_share)


class Timeline:
    """The plan's events in time order, as offsets from a start instant given later. Creating one builds the
    population and simulates the `warmup_s` before the start: seconds at thousands of events/s. A run creates
    it before it fixes its start, so its first events are not already late when it begins."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._calls = _scheduled(plan)
        self._first = next(self._calls)

    def events(self, *, start: datetime) -> Iterator[CallEvent]:
        """The endless stream of CallEvents from `start` (a Timeline gives it once); cut it with
        itertools.islice (count) or by occurred_at (duration)."""
        ids = random.Random(f"ids:{self.plan.seed}")
        for item, call_start_s, call_number in itertools.chain([self._first], self._calls):
            yield _event(item, start, ids, call_id=_call_id(start, call_start_s, call_number))


def _scheduled(plan: Plan) -> Iterator[tuple[Scheduled, float, int]]:
    """(event, its call's start, the call's number) from offset 0 on; the warm-up's earlier events are dropped."""
    population = plan.population()
    rng = random.Random(f"calls:{plan.seed}")
    calls_per_s = plan.rate_eps / plan.mean_events_per_call()
    pending: list[tuple[float, int, Scheduled, float, int]] = []
    order = itertools.count()
    next_call_s = -plan.warmup_s + rng.expovariate(calls_per_s)
    for call_number in itertools.count(1):
        while pending and pending[0][0] <= next_call_s:
            _, _, item, call_start_s, number = heapq.heappop(pending)
            yield item, call_start_s, number
        for item in _call(plan, population, rng, next_call_s):
            if item.offset_s >= 0:  # the warm-up's earlier events are dropped
                heapq.heappush(pending, (item.offset_s, next(order), item, next_call_s, call_number))
        next_call_s += rng.expovariate(calls_per_s)


def _call_id(start: datetime, offset_s: float, number: int) -> str:
    """Asterisk-style unique id: the call's Unix second, a dot, a sequence number."""
    return f"{int(start.timestamp() + offset_s)}.{number}"


def _call(plan: Plan, population: Population, rng: random.Random, t0: float) -> list[Scheduled]:
    tenant = population.pick_tenant(rng)
    answered = rng.random() < plan.answered_ratio
    timing = call_timing(rng, answered=answered, max_call_s=plan.max_call_s)
    kind = rng.random()
    build: Callable[[], list[Scheduled]]
    if kind < plan.internal_share and len(tenant.extensions) > 1:
        caller, callee = rng.sample(tenant.extensions, 2)
        build = partial(internal_call, t0, caller, callee, timing)
    else:
        extension = rng.choice(tenant.extensions)
        outside = outside_party(rng, _outside_country(rng, tenant))
        # with one extension, internal calls become inbound
        scenario = inbound_call if kind < plan.internal_share + plan.inbound_share else outbound_call
        build = partial(scenario, t0, extension, outside, timing)
    # Most warm-up calls are over before the start: their draws are made (the rng stays in step, so the events
    # stay the same), their events are not built (most of the warm-up's cost at thousands of events/s).
    over_before_start = t0 + timing.ring_s + timing.talk_s + DIAL_GAP_S < 0
    return [] if over_before_start else build()


def _outside_country(rng: random.Random, tenant: SimTenant) -> tuple[str, str, int]:
    """Most outside parties are in the tenant's own country."""
    return tenant.country if rng.random() < 0.85 else rng.choice(COUNTRIES)


def _event(item: Scheduled, start: datetime, ids: random.Random, *, call_id: str) -> CallEvent:
    occurred_at = start + timedelta(seconds=item.offset_s)
    return CallEvent(
        event_id=uuid7(int(occurred_at.timestamp() * 1000), ids.getrandbits(74)),
        type=item.type, occurred_at=occurred_at, extension=item.extension, tenant=item.extension.split("*")[0],
        **{**item.params, "CallID": call_id},
    )
