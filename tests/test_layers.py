"""The components stay apart, as the architecture says: producers/, processors/, delivery/ and control/ never import
each other (Kafka is the only path between them); what several of them need lives in schemas/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ("producers", "processors", "delivery", "control")


def imported_packages(source: Path) -> set[str]:
    """The top-level packages a module imports, lazily inside functions too."""
    tree = ast.parse(source.read_text(), filename=str(source))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_imported_packages_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os.path\ndef f():\n    from delivery.dlq import Filters\n")
    assert imported_packages(module) == {"os", "delivery"}


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_imports_no_other_component(component: str) -> None:
    crossings = {
        f"{source.relative_to(ROOT)} imports {other}"
        for source in sorted((ROOT / component).rglob("*.py"))
        for other in imported_packages(source) & set(COMPONENTS) - {component}
    }
    assert not crossings, "move the shared code to schemas/: " + "; ".join(sorted(crossings))
