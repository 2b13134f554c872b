"""`python -m control`: serve the Control API (same options as `callapi-events api`)."""

from control.cli import api
from schemas.help_text import run

run(api)
