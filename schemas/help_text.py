"""Help that reflows to the terminal: docstrings are wrapped for the source, not for the reader.

Typer's rich help joins the lines of a command's first paragraph only, and prints the other paragraphs (and the
first one, in a group's list of commands) with the source's line breaks: mid-sentence in a narrow terminal,
ragged in a wide one. `ReflowingGroup` joins them once, for every command under the root, before Typer renders;
`run` does the same for a component's own entry point (`python -m processors`). Blank lines still separate
paragraphs; indented lines (examples), list items and click's `\\b` paragraphs keep their line breaks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

LIST_MARKERS = ("- ", "* ", "• ")


def reflow(text: str) -> str:
    """`text` with each paragraph's lines joined into one, except where a line break is meant."""
    return "\n\n".join(_reflow_paragraph(paragraph) for paragraph in inspect.cleandoc(text).split("\n\n"))


def _reflow_paragraph(paragraph: str) -> str:
    lines = paragraph.splitlines()
    if paragraph.startswith("\b") or any(line[:1].isspace() for line in lines):
        return paragraph  # preformatted: examples, tables
    joined: list[str] = []
    for line in lines:
        if joined and not line.startswith(LIST_MARKERS):
            joined[-1] = f"{joined[-1]} {line.strip()}"
        else:
            joined.append(line.strip())
    return "\n".join(joined)


def reflow_command(command: TyperCommand | TyperGroup) -> None:
    """Reflow the help of `command`, its options and arguments and, for a group, of every command under it."""
    if command.help:
        command.help = reflow(command.help)
    for param in command.params:
        if isinstance(param, TyperOption | TyperArgument) and param.help:
            param.help = reflow(param.help)
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            if isinstance(sub, TyperCommand | TyperGroup):
                reflow_command(sub)


class ReflowingGroup(TyperGroup):
    """The root group: built last, when the whole tree of commands exists, so it reflows all of it once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reflow_command(self)


class ReflowingCommand(TyperCommand):
    """A command run on its own, without a group above it: reflows its own help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reflow_command(self)


def run(function: Callable[..., Any]) -> None:
    """`typer.run(function)`, with the help reflowed as under `callapi-events`."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(cls=ReflowingCommand)(function)
    app()
