"""`python -m producers`: the ingest endpoint (`callapi-events ingest`)."""

from producers.cli import ingest
from schemas.help_text import run

run(ingest)
