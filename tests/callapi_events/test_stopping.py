"""How every command ends when stopped from outside: Ctrl-C while it starts."""

from __future__ import annotations

import subprocess
import sys

from schemas.settings import Settings
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


def test_ctrl_c_while_the_commands_load_exits_130_with_one_line(settings: Settings) -> None:
    done = subprocess.run([sys.executable, "-c", CTRL_C_WHILE_LOADING], env=settings_env(settings),
                          capture_output=True, text=True, timeout=120, preexec_fn=ctrl_c_enabled)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "callapi-events: interrupted while starting; nothing was done.\n"
