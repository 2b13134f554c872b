"""`python -m control`: serve the Control API (same options as `callapi-events api`)."""

import typer

from control.cli import api

typer.run(api)
