"""The Control API served for real by uvicorn on a free port, in a thread of the test process."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from control.api import create_app
from control.api.http_protocol import ApiHttpProtocol
from schemas.settings import Settings


class ApiServer:
    """`with ApiServer(settings) as api:` serves on `api.url`; `api.client()` is an httpx.Client for it. `app`: one
    made by create_app and changed by the test, instead of a new one."""

    def __init__(self, settings: Settings, *, relay: bool = False, app: FastAPI | None = None) -> None:
        config = uvicorn.Config(app or create_app(settings, relay=relay), host="127.0.0.1", port=0, log_level="warning",
                                lifespan="on", proxy_headers=False, http=ApiHttpProtocol)  # as `api` serves it
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> ApiServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.server.should_exit = True
        self._thread.join(30)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def token(self, client_id: str, client_secret: str) -> str:
        with self.client() as http:
            answer = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                     "client_secret": client_secret})
        answer.raise_for_status()
        return str(answer.json()["access_token"])
