"""How every command ends when stopped from outside: its reader gone (`| head -1`), or Ctrl-C while it starts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from schemas.codec import encode
from schemas.settings import Settings
from tests.delivery.jobs import make_job
from tests.kafka import produce
from tests.processes import ctrl_c_enabled, settings_env

CTRL_C_WHILE_LOADING = """
import builtins, os, signal, sys
real_import = builtins.__import__

def importing(name, *args, **kwargs):
    if name == "typer":  # the commands are loading: Ctrl-C now, as a person would press it
        builtins.__import__ = real_import
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)

builtins.__import__ = importing
sys.argv = ["callapi-events", "dlq", "list"]
from callapi_events.cli import main
main()
"""


def _to_a_closed_pipe(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reader is already gone, as `| head -1` leaves it once it has its line."""
    reading, writing = os.pipe()
    os.close(reading)
    try:
        return subprocess.run([sys.executable, "-m", "callapi_events", *args], env=settings_env(settings),
                              stdout=writing, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(writing)


@pytest.mark.parametrize("args", [("dlq", "list", "--json"), ("dlq", "list"), ("dlq", "events", "list", "--json"),
                                  ("--help",)])
def test_a_command_whose_reader_went_away_ends_by_sigpipe_without_a_word(settings: Settings,
                                                                          args: tuple[str, ...]) -> None:
    job = make_job("http://127.0.0.1:9/down", request_id="piped").model_copy(update={"attempt": 3})
    asyncio.run(produce(settings, settings.topics.deliveries_dlq, [(job.extension, encode(job))]))
    asyncio.run(produce(settings, settings.topics.call_events_dlq, [("0003*210", b"{")],
                        headers=[("error", b"invalid_json")]))
    done = _to_a_closed_pipe(settings, *args)
    assert (done.returncode, done.stderr) == (-signal.SIGPIPE, ""), done.stderr  # as git and grep: a shell says 141


def test_ctrl_c_while_the_commands_load_exits_130_with_one_line(settings: Settings) -> None:
    done = subprocess.run([sys.executable, "-c", CTRL_C_WHILE_LOADING], env=settings_env(settings),
                          capture_output=True, text=True, timeout=120, preexec_fn=ctrl_c_enabled)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "callapi-events: interrupted while starting; nothing was done.\n"
