"""The layers: utils/ (infrastructure) < datasets/ < models/ < engine/ < unlearn/ < the scripts; imports point
down."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> the project packages it must not import (those above it)
ABOVE = {"utils": {"datasets", "models", "engine", "unlearn", "arg_parser"},
         "datasets": {"models", "engine", "unlearn", "arg_parser"},
         "models": {"engine", "unlearn", "arg_parser"},
         "engine": {"unlearn", "arg_parser"}}


def imported(path: Path) -> set[str]:
    """Top-level names of every module `path` imports, at any depth of the file (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", ABOVE)
def test_imports_point_down(package):
    wrong = {f"{path.relative_to(ROOT)} imports {name}" for path in (ROOT / package).rglob("*.py")
             for name in imported(path) & ABOVE[package]}
    assert not wrong, sorted(wrong)
