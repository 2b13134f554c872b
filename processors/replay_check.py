"""Replay filter values that name nothing in the current config: refused before the window is read.

A mistyped Request ID, extension or tenant would otherwise select nothing, and the replay would read the whole
window only to report 0 jobs. The current config (`event-requests`, read to its end) is what the join uses, so
a value it does not know can never yield a job from `call-events`. Pure: fed record by record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from processors.window import ReplayFilter
from schemas.requests import EventRequest


@dataclass
class ConfigSeen:
    """What the current config holds of the filters' values: per selected extension, the wanted Request IDs it
    has (with their enabled flag). Only extensions that matter are kept, so memory stays small."""

    wanted: ReplayFilter
    extensions: dict[str, dict[str, bool]] = field(default_factory=dict)

    def note(self, extension: str, requests: list[EventRequest]) -> None:
        """One `event-requests` record of a selected extension (the latest record of a key wins)."""
        ids = {r.id: r.enabled for r in requests if self.wanted.wants_request(r.id)}
        self.note_ids(extension, ids, has_requests=bool(requests))

    def note_ids(self, extension: str, ids: dict[str, bool], *, has_requests: bool) -> None:
        """What one selected extension holds: whether it has requests, and the wanted IDs among them."""
        by_place = self.wanted.extensions or self.wanted.tenants  # then any request proves the value exists
        if has_requests and (ids or by_place):
            self.extensions[extension] = ids
        else:
            self.extensions.pop(extension, None)


def refusal(seen: ConfigSeen, *, from_deliveries: bool) -> str | None:
    """Why the filters select nothing in the current config, naming each value that matches nothing; or None."""
    wanted, problems = seen.wanted, []
    for extension in sorted(wanted.extensions - seen.extensions.keys()):
        problems.append(f"--extension {extension} has no requests")
    for tenant in sorted(wanted.tenants):
        if not any(wanted.wants_extension(ext) and _of_tenant(ext, tenant) for ext in seen.extensions):
            problems.append(f"--tenant {tenant} has no extension with requests"
                            + (" among the --extension values" if wanted.extensions else ""))
    if problems:
        return _message(problems)
    found: dict[str, bool] = {}
    for ids in seen.extensions.values():
        for rid, enabled in ids.items():
            found[rid] = found.get(rid, False) or enabled
    where = " of the selected extensions" if wanted.extensions or wanted.tenants else ""
    problems = [f"--request-id {rid} matches no request{where}" for rid in sorted(wanted.request_ids - found.keys())]
    if not from_deliveries:  # the join sends only enabled requests; recorded jobs are resent as they were
        problems += [f"--request-id {rid} is disabled, and a replay joins only enabled requests (--deliveries "
                     "resends its recorded jobs)" for rid in sorted(wanted.request_ids) if found.get(rid) is False]
    return _message(problems) if problems else None


def _of_tenant(extension: str, tenant: str) -> bool:
    return ReplayFilter(tenants=frozenset({tenant})).wants_extension(extension)


def _message(problems: list[str]) -> str:
    return (f"in the current config (event-requests), {'; '.join(problems)}. Nothing was replayed: check the "
            "value (the Control API or /ui/ lists an extension's requests), or CALLAPI_TOPIC_PREFIX.")
