"""The simulated PBX's tenants and extensions: a pure function of the seed and the sizes.

Tenants are organizations with codes `0001`, `0002`, …; each has M extensions `0001*201`, `0001*202`, …
with a public number (DID) in the tenant's country and a user name. Tenant traffic follows a Zipf law
(weight 1/rank^skew), so a few tenants are busy and most are quiet, as on a real hosted PBX.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

from schemas.extensions import extended_form

FIRST_EXTENSION = 201
# (country calling code, national prefix of the DID block, digits after it)
COUNTRIES = (("+61", "28", 7), ("+1", "212555", 4), ("+44", "207946", 4), ("+49", "30", 8), ("+40", "31", 7))
FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "Dan", "Elena", "Farid", "Grace", "Hiro", "Ioana", "Jack", "Kira", "Liam", "Maria",
    "Noah", "Olivia", "Pedro", "Quinn", "Radu", "Sara", "Tom", "Uma", "Victor", "Wen", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Anderson", "Brown", "Chen", "Dumitru", "Evans", "Fischer", "Garcia", "Hughes", "Ionescu", "Jones", "Kim",
    "Lopez", "Müller", "Nguyen", "O'Brien", "Popescu", "Rossi", "Smith", "Tanaka", "Weber",
)
COMPANIES = (
    "ACME Pty", "Globex", "Initech", "Umbrella Corp", "Stark Industries", "Wayne Enterprises", "Hooli",
    "Vandelay Imports", "Soylent", "Cyberdyne", "Wonka Ltd", "Tyrell Corp", "Massive Dynamic", "Oscorp",
)


@dataclass(frozen=True)
class SimExtension:
    number: str
    """canonical form, e.g. `0001*201`"""
    did: str
    """its public number, E.164"""
    user_name: str

    @property
    def extended(self) -> str:
        """`0001201`: the digits-only form notifications carry."""
        return extended_form(self.number)


@dataclass(frozen=True)
class SimTenant:
    code: str
    name: str
    country: tuple[str, str, int]
    extensions: tuple[SimExtension, ...]


@dataclass(frozen=True)
class Population:
    tenants: tuple[SimTenant, ...]
    cumulative_weights: tuple[float, ...]

    def pick_tenant(self, rng: random.Random) -> SimTenant:
        point = rng.random() * self.cumulative_weights[-1]
        return self.tenants[bisect.bisect_right(self.cumulative_weights, point)]

    @property
    def extensions(self) -> list[SimExtension]:
        return [ext for tenant in self.tenants for ext in tenant.extensions]


def zipf_weights(count: int, skew: float) -> list[float]:
    return [1.0 / rank**skew for rank in range(1, count + 1)]


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def phone_number(rng: random.Random, country: tuple[str, str, int]) -> str:
    code, prefix, digits = country
    return f"{code}{prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}"


def build_population(
    *, seed: int, organizations: int, extensions: int, skew: float = 1.1, tenant_base: int = 1,
) -> Population:
    """N organizations x M extensions, deterministic in `seed`."""
    if organizations < 1 or extensions < 1:
        raise ValueError("the simulator needs at least one organization and one extension")
    rng = random.Random(f"population:{seed}")
    tenants = [_tenant(rng, code=f"{tenant_base + i:04d}", extensions=extensions) for i in range(organizations)]
    cumulative = tuple(itertools.accumulate(zipf_weights(organizations, skew)))
    return Population(tuple(tenants), cumulative)


def _tenant(rng: random.Random, *, code: str, extensions: int) -> SimTenant:
    country = rng.choice(COUNTRIES)
    cc, prefix, digits = country
    block = rng.randrange(10 ** (digits - 1), max(10 ** (digits - 1) + 1, 10**digits - extensions))
    members = tuple(
        SimExtension(f"{code}*{FIRST_EXTENSION + i}", f"{cc}{prefix}{block + i}", person_name(rng))
        for i in range(extensions)
    )
    return SimTenant(code, f"{rng.choice(COMPANIES)} ({code})", country, members)
