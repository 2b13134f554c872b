"""A small Control API client for provisioning: OAuth client credentials, then the Event resource."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from producers.errors import ProvisionError
from producers.simulator.population import SimExtension
from schemas.events import EventType

TIMEOUT_S = 15.0


class ControlApi:
    def __init__(self, *, client: httpx.AsyncClient, api_url: str) -> None:
        self.client = client
        self.api_url = api_url.rstrip("/")

    async def token(self, client_id: str, client_secret: str) -> str:
        response = await self.client.post(
            f"{self.api_url}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
            timeout=TIMEOUT_S,
        )
        body = _checked(response, "POST /oauth/token")
        return str(body["access_token"])

    def _base(self, org_id: int, extension: SimExtension) -> str:
        number = quote(extension.number, safe="")  # the `*` form: unambiguous for any organization code
        return f"{self.api_url}/uapi/extensions/{org_id}/{number}/phoneCallEvents"

    async def existing(self, token: str, org_id: int, extension: SimExtension) -> set[tuple[int, str]]:
        """{(type, url)} of the extension's requests."""
        response = await self.client.get(
            self._base(org_id, extension), params={"count": 1000}, headers=_auth(token), timeout=TIMEOUT_S
        )
        body = _checked(response, f"ListAll for {extension.number}")
        entries = body.get("entry", []) if isinstance(body, dict) else body
        return {(int(item["type"]), str(item["url"])) for item in entries}

    async def remove_type(self, token: str, org_id: int, extension: SimExtension, event_type: EventType) -> None:
        """Remove every request of one type of the extension."""
        response = await self.client.delete(
            f"{self._base(org_id, extension)}/{int(event_type)}", headers=_auth(token), timeout=TIMEOUT_S
        )
        _checked(response, f"Remove {event_type.slug} requests of {extension.number}")

    async def add(self, token: str, org_id: int, extension: SimExtension, event_type: EventType, *, method: int,
                  url: str) -> str:
        payload = {"type": int(event_type), "method": method, "url": url, "status": 1,
                   "note": f"simulator: {event_type.slug} of {extension.number}"}
        response = await self.client.post(
            self._base(org_id, extension), json=payload, headers=_auth(token), timeout=TIMEOUT_S
        )
        return str(_checked(response, f"Add {event_type.slug} request for {extension.number}")["id"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _checked(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise ProvisionError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    try:
        return response.json()
    except ValueError:
        raise ProvisionError(f"{what}: the answer is not JSON: {response.text[:200]!r}") from None
