"""`python -m producers`: the ingest endpoint (`callapi-events ingest`)."""

import typer

from producers.cli import ingest

typer.run(ingest)
