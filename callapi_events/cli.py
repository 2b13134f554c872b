"""`callapi-events`: every component and tool behind one command. Heavy imports happen per command."""

from __future__ import annotations

import logging

import typer

from control.cli import register as register_control
from delivery.cli import register as register_delivery
from deploy.cli import stack_app, topics_app
from processors.cli import register as register_processors
from producers.cli import register as register_producers
from schemas import __version__

app = typer.Typer(
    help="CallAPI Events: call events from a PBX become HTTP notifications to the URLs each extension "
    "configured, through Kafka. Start with `callapi-events demo`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
register_control(app)
register_processors(app)
register_delivery(app)
register_producers(app)


def _version(value: bool) -> None:
    if value:
        print(f"callapi-events {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    log_level: str = typer.Option("INFO", envvar="CALLAPI_LOG_LEVEL", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


def main() -> None:
    app()
