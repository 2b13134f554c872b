"""`callapi-events`'s entry point: it loads the commands (callapi_events.commands) only once it can end quietly
however the program is stopped, for every command alike."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from callapi_events.commands import run  # every component's commands: most of the first second

        run()
    except KeyboardInterrupt:  # a command's own Ctrl-C ends inside it (exit 130): this one came while starting
        print("callapi-events: interrupted while starting; nothing was done.", file=sys.stderr)
        raise SystemExit(130) from None
