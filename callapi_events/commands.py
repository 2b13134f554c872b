"""`callapi-events`: every component and tool behind one command. Heavy imports happen per command; the entry
point is callapi_events.cli."""

from __future__ import annotations

import sys
from enum import StrEnum

import typer

from bench.cli import register as register_bench
from callapi_events.logs import configure_logging
from control.cli import register as register_control
from delivery.cli import dlq_app
from delivery.cli import register as register_delivery
from deploy.cli import stack_app, topics_app
from deploy.lag_cli import register as register_lag
from processors.cli import register as register_processors
from processors.dlq_cli import events_app as dead_events_app
from producers.cli import register as register_producers
from producers.probe_cli import probe
from schemas import __version__
from schemas.help_text import ReflowingGroup

app = typer.Typer(
    help="CallAPI Events: call events from a PBX become HTTP notifications to the URLs each extension "
    "configured, through Kafka. Start with `callapi-events demo`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=ReflowingGroup,
)
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
register_control(app)
register_processors(app)
register_delivery(app)
dlq_app.add_typer(dead_events_app, name="events")
register_producers(app)
app.command("probe")(probe)
register_lag(app)
register_bench(app)


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def _version(value: bool) -> None:
    if value:
        print(f"callapi-events {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    log_level: str = typer.Option("INFO", envvar="CALLAPI_LOG_LEVEL", help="DEBUG, INFO, WARNING or ERROR."),
    log_format: LogFormat = typer.Option(
        LogFormat.text, envvar="CALLAPI_LOG_FORMAT", help="text for a terminal, json for one JSON object per line."
    ),
) -> None:
    configure_logging(log_level, json_format=log_format is LogFormat.json)


def run() -> None:
    from pydantic import ValidationError

    try:
        app()
    except ValidationError as error:  # a CALLAPI_* setting with a bad value: say which, not a traceback
        for item in error.errors():
            name = "CALLAPI_" + "_".join(str(part) for part in item["loc"]).upper()
            print(f"bad setting {name}: {item['msg']} (got {item.get('input')!r})", file=sys.stderr)
        raise SystemExit(2) from None
