"""What the partition-growth tests share: topics of BEFORE partitions whose extensions move in every possible way
when grown to AFTER, their lists published by the relay, and `topics grow` run as the operator runs it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable

import psycopg

from control.errors import Unavailable
from control.relay import resync
from control.service import add_request, admin
from schemas.events import EventType
from schemas.publisher import partition_for
from schemas.settings import Settings
from tests.control.tenants import new_org
from tests.processes import settings_env
from tests.services import wait_until

BEFORE, AFTER = 3, 4


def extensions_moving(code: str) -> list[str]:
    """An extension for each way a key can move from BEFORE to AFTER partitions (whatever partitions each worker
    gets, one of them moves between the two), and two that stay."""
    by_move: dict[tuple[int, int], str] = {}
    for n in range(100, 5000):
        extension = f"{code}*{n}"
        by_move.setdefault((partition_for(extension.encode(), BEFORE), partition_for(extension.encode(), AFTER)),
                           extension)
    moves = [(a, b) for a in range(BEFORE) for b in range(AFTER) if a != b] + [(0, 0), (1, 1)]
    return [by_move[move] for move in moves]


def laid_out(
    make_settings: Callable[..., Settings], database_url: str, *, with_disabled: bool = False,
    moving: Callable[[str], list[str]] = extensions_moving,
) -> tuple[Settings, list[str]]:
    """Topics of BEFORE partitions; each extension (`moving` of the organization's code) with a dial-in request,
    published by the relay's resync (which publishes every extension of the database). `with_disabled`: as many
    more, in another organization, whose one request is disabled (not returned)."""
    settings = make_settings(partitions=BEFORE)
    with psycopg.connect(database_url, autocommit=True) as conn:
        provider = admin.create_provider(conn, "Provider")
        numbers: list[str] = []
        for status in (1, 0) if with_disabled else (1,):
            org = new_org(conn, provider)
            extensions = moving(org.code or "")
            numbers += extensions if status else []
            for extension, _ in admin.create_extensions(conn, org.id, extensions):
                add_request(conn, settings, extension,
                            {"type": int(EventType.DIAL_IN), "url": "http://127.0.0.1:9/x", "status": status})
    wait_until(lambda: resynced(settings), timeout_s=30, what="the relay's resync")
    return settings, numbers


def resynced(settings: Settings) -> bool:
    """The relay's resync; refused while the broker's metadata does not show the topics just created yet."""
    try:
        asyncio.run(resync(settings))
    except Unavailable:
        return False
    return True


def grow(settings: Settings, partitions: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callapi_events", "topics", "grow", "--partitions", str(partitions)],
                          env=settings_env(settings), capture_output=True, text=True, timeout=120, check=False)
