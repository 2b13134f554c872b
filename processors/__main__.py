"""`python -m processors` runs the processor."""

import typer

from processors.cli import processor

typer.run(processor)
