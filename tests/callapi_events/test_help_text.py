"""--help reflows to the terminal: no line break from the source in the middle of a sentence, at any width."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.core import TyperCommand, TyperGroup
from typer.testing import CliRunner

from callapi_events.commands import app
from schemas.help_text import reflow


@pytest.mark.parametrize(("source", "shown"), [
    ("One line.", "One line."),
    ("Wrapped in the\n    source.\n\n    Second paragraph,\n    also wrapped.",
     "Wrapped in the source.\n\nSecond paragraph, also wrapped."),
    ("Replay a\n    window.\n\n    Examples:\n\n      callapi-events replay --since 2h\n"
     "      callapi-events replay --since 1d\n",
     "Replay a window.\n\nExamples:\n\n  callapi-events replay --since 2h\n  callapi-events replay --since 1d"),
    ("Items:\n- first item,\n  continued\n- second", "Items:\n- first item,\n  continued\n- second"),
    ("Items:\n- first item,\ncontinued\n- second", "Items:\n- first item, continued\n- second"),
    ("\b\nkept\nas is", "\b\nkept\nas is"),
])
def test_reflow_joins_lines_within_a_paragraph_only(source: str, shown: str) -> None:
    assert reflow(source) == shown


def command_paths(command: TyperCommand | TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            assert isinstance(sub, TyperCommand | TyperGroup)
            paths += command_paths(sub, (*path, name))
    return paths


ROOT = typer.main.get_command(app)
assert isinstance(ROOT, TyperGroup)


@pytest.mark.parametrize("path", command_paths(ROOT), ids=lambda path: " ".join(path) or "callapi-events")
def test_every_help_paragraph_reads_as_one_line_on_a_wide_terminal(path: tuple[str, ...]) -> None:
    done = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "1000"})
    assert done.exit_code == 0, done.output
    lines = {line.strip() for line in done.output.splitlines()}
    command: TyperCommand | TyperGroup = ROOT
    for name in path:
        assert isinstance(command, TyperGroup)
        command = command.commands[name]  # type: ignore[assignment]
    for line in reflow(command.help or "").splitlines():
        assert line.strip() in lines, done.output


@pytest.mark.parametrize("columns", [60, 160])
def test_help_fits_the_terminal_and_joins_the_sources_lines(columns: int) -> None:
    done = subprocess.run([sys.executable, "-m", "callapi_events", "replay", "--help"], capture_output=True,
                          text=True, timeout=60, env={"COLUMNS": str(columns), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= columns, done.stdout
    text = " ".join(line.strip() for line in done.stdout.splitlines())
    assert "joined again with each extension's CURRENT requests" in " ".join(text.split()), done.stdout
    if columns == 160:  # the source breaks after "joined again with"; a wide terminal does not
        assert any("joined again with each extension's" in line for line in done.stdout.splitlines()), done.stdout


def breaks_before_the_edge(help_text: str, columns: int) -> list[tuple[str, str]]:
    """Lines of the description that end although the next line's first word would have fitted: a break the
    source put there, not the terminal. Rich pads the text with a space on each side."""
    description = help_text.split("╭", 1)[0].splitlines()
    text_width = columns - 2
    usage_end = next(index for index, line in enumerate(description) if index and not line.strip())
    pairs = zip(description[usage_end:], description[usage_end + 1:], strict=False)
    return [(line.strip(), following.strip()) for line, following in pairs if line.strip() and following.strip()
            and len(line.strip()) + 1 + len(following.split()[0]) <= text_width]


@pytest.mark.parametrize("entry_point", [["-m", "processors"], ["-m", "control"], ["-m", "producers"],
                                         ["-m", "bench"], ["-m", "delivery"], ["-m", "deploy.lag_cli"]],
                         ids=lambda args: args[-1])
def test_a_components_own_entry_point_reflows_its_help_too(entry_point: list[str]) -> None:
    done = subprocess.run([sys.executable, *entry_point, "--help"], capture_output=True, text=True, timeout=60,
                          env={"COLUMNS": "60", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 60, done.stdout
    assert breaks_before_the_edge(done.stdout, 60) == [], done.stdout
