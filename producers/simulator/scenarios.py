"""Call scenarios: what a PBX reports for one call, as scheduled events. Pure: a function of the rng.

- internal: extension A calls extension B of the same tenant; one CallID; dial-out on A and dial-in on B,
  answer-in on B and answer-out on A when answered, a hangup on both;
- inbound: an outside number calls an extension's public number: dial-in, answer-in, hangup;
- outbound: an extension calls an outside number: dial-out, answer-out, hangup.
Answered calls end with CallStatus ANSWER; unanswered ones have no answer events and end with UNKNOWN.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from producers.simulator.population import COMPANIES, SimExtension, person_name, phone_number
from schemas.events import EventType

DIAL_GAP_S = 0.05
"""The callee's dial-in follows the caller's dial-out by a few tens of milliseconds."""


@dataclass(frozen=True)
class Scheduled:
    """One event of a call, `offset_s` after the simulation started."""

    offset_s: float
    type: EventType
    extension: str
    params: dict[str, str]


@dataclass(frozen=True)
class Timing:
    ring_s: float
    talk_s: float
    """0 when unanswered"""


def call_timing(rng: random.Random, *, answered: bool, max_call_s: float) -> Timing:
    """Answered: 1.5-12 s of ringing, talk lognormal around 20 s; unanswered: rings 15-30 s."""
    if not answered:
        return Timing(rng.uniform(15.0, 30.0), 0.0)
    talk_s = min(max_call_s, max(2.0, rng.lognormvariate(math.log(20.0), 0.9)))
    return Timing(rng.uniform(1.5, 12.0), talk_s)


def outside_party(rng: random.Random, country: tuple[str, str, int]) -> tuple[str, str]:
    """(E.164 number, caller ID name) of someone outside the PBX; the name is sometimes unknown."""
    kind = rng.random()
    name = rng.choice(COMPANIES) if kind < 0.4 else person_name(rng) if kind < 0.75 else ""
    return phone_number(rng, country), name


def _params(**values: str) -> dict[str, str]:
    """The nine parameters; CallID is left empty here and filled in once the run's start is known."""
    names = ("CallID", "CallerIDNum", "CallerIDName", "CalledDID", "CalledExtension", "CallStatus", "CallFlow",
             "CallerExtension", "CalledNumber")
    return {name: values.get(name, "") for name in names}


def _side(
    t0: float, timing: Timing, extension: str, flow: str, answer: EventType, base: dict[str, str], delay_s: float,
) -> list[Scheduled]:
    """One extension's events of a call: dial, answer (if answered), hangup."""
    dial = EventType.DIAL_IN if flow == "IN" else EventType.DIAL_OUT
    params = _params(**base, CallFlow=flow)
    events = [Scheduled(t0 + delay_s, dial, extension, {**params, "CallStatus": "CALLING"})]
    if timing.talk_s:
        answered_at = t0 + timing.ring_s + delay_s
        events.append(Scheduled(answered_at, answer, extension, {**params, "CallStatus": "ANSWER"}))
    ended_at = t0 + timing.ring_s + timing.talk_s + delay_s
    status = "ANSWER" if timing.talk_s else "UNKNOWN"
    events.append(Scheduled(ended_at, EventType.HANGUP, extension, {**params, "CallStatus": status}))
    return events


def internal_call(
    t0: float, caller: SimExtension, callee: SimExtension, timing: Timing,
) -> list[Scheduled]:
    base = {"CallerIDNum": caller.extended, "CallerIDName": caller.user_name,
            "CalledExtension": callee.extended, "CallerExtension": caller.extended, "CalledNumber": callee.extended}
    return [
        *_side(t0, timing, caller.number, "OUT", EventType.ANSWER_OUT, base, 0.0),
        *_side(t0, timing, callee.number, "IN", EventType.ANSWER_IN, base, DIAL_GAP_S),
    ]


def inbound_call(
    t0: float, callee: SimExtension, outside: tuple[str, str], timing: Timing,
) -> list[Scheduled]:
    base = {"CallerIDNum": outside[0], "CallerIDName": outside[1], "CalledDID": callee.did,
            "CalledExtension": callee.extended, "CalledNumber": callee.did}
    return _side(t0, timing, callee.number, "IN", EventType.ANSWER_IN, base, 0.0)


def outbound_call(
    t0: float, caller: SimExtension, outside: tuple[str, str], timing: Timing,
) -> list[Scheduled]:
    base = {"CallerIDNum": caller.did, "CallerIDName": caller.user_name,
            "CallerExtension": caller.extended, "CalledNumber": outside[0]}
    return _side(t0, timing, caller.number, "OUT", EventType.ANSWER_OUT, base, 0.0)
