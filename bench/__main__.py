"""`python -m bench [--quick] [--only NAME]`: the same as `callapi-events bench`."""

from bench.cli import bench
from schemas.help_text import run

run(bench)
