"""`callapi-events`'s entry point: it loads the commands (callapi_events.commands) only once it can end quietly
however the program is stopped, for every command alike."""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn


def main() -> None:
    already_null = _stdout_is_null()
    try:
        from callapi_events.commands import run  # every component's commands: most of the first second

        run()
    except KeyboardInterrupt:  # a command's own Ctrl-C ends inside it (exit 130): this one came while starting
        print("callapi-events: interrupted while starting; nothing was done.", file=sys.stderr)
        raise SystemExit(130) from None
    except BrokenPipeError:
        _end_on_a_closed_pipe()
    except SystemExit:
        if _gave_up_on_a_closed_stdout(already_null):
            _end_on_a_closed_pipe()
        raise


def _gave_up_on_a_closed_stdout(already_null: bool) -> bool:
    """Whether the exit comes from a write to a stdout nobody reads any more: the command line library then wraps
    stdout (PacifyFlushWrapper) and rich points it at /dev/null, each before exiting 1."""
    return type(sys.stdout).__name__ == "PacifyFlushWrapper" or (not already_null and _stdout_is_null())


def _stdout_is_null() -> bool:
    try:
        return os.path.samestat(os.fstat(1), os.stat(os.devnull))
    except OSError:  # no stdout at all
        return False


def _end_on_a_closed_pipe() -> NoReturn:
    """End as `git log | head -1` or `grep` end when their reader went away: by SIGPIPE, without a word (a shell
    says 141), rather than exit 1, which reads as a failure, or a BrokenPipeError message."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # Python ignores it, so that a write raises BrokenPipeError
    os.kill(os.getpid(), signal.SIGPIPE)
    raise SystemExit(128 + signal.SIGPIPE)  # what a shell says, should the signal not end the process
