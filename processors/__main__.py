"""`python -m processors` runs the processor."""

from processors.cli import processor
from schemas.help_text import run

run(processor)
