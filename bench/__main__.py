"""`python -m bench [--quick] [--only NAME]`: the same as `callapi-events bench`."""

import typer

from bench.cli import bench

typer.run(bench)
