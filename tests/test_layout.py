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


FAMILY_NAMES = {"classification", "reconstruction", "federated", "CLASSIFICATION", "RECONSTRUCTION", "FEDERATED"}
FAMILY_SOURCES = ("*.py", "datasets/**/*.py", "models/**/*.py", "engine/**/*.py", "unlearn/**/*.py", "utils/**/*.py")


def family_branches(path: Path, root: Path = ROOT) -> list[str]:
    """Comparisons against a family's name (`task == "reconstruction"`, `kind in ("federated", ...)`) in `path`."""
    def names_family(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in FAMILY_NAMES
        if isinstance(node, (ast.Name, ast.Attribute)):
            return (node.id if isinstance(node, ast.Name) else node.attr) in FAMILY_NAMES
        return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(names_family(e) for e in node.elts)
    return [f"{path.relative_to(root)}:{node.lineno}" for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Compare) and any(map(names_family, [node.left, *node.comparators]))]


def test_only_engine_family_asks_which_family_a_run_is_in():
    """Scripts look their family up once (unlearn.families); no other module branches on a family's name."""
    paths = {p for pattern in FAMILY_SOURCES for p in ROOT.glob(pattern)} - {ROOT / "engine" / "family.py"}
    found = [hit for path in sorted(paths) for hit in family_branches(path)]
    assert not found, found


def test_the_branch_finder_finds_branches(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('if task == "reconstruction":\n    pass\nok = name in (RECONSTRUCTION, "x")\nkind = "federated"\n')
    assert family_branches(sample, tmp_path) == ["sample.py:1", "sample.py:3"]
