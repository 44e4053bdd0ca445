"""The README's method table: one row per registered method (with its `_with_SalUn` id), its reference code, its
defaults as registered, and each difference from the reference.

    python -m unlearn.method_table --out results/methods
"""
from pathlib import Path
from typing import Sequence

from engine.family import FAMILIES, METHOD_BASE_BATCH
from utils.cli import Parser
from utils.errors import UserError, run_cli
from utils.results import publish

from . import _METHODS
from .references import reference

# registered knob -> how the table names it (the flag that overrides it, where it has one)
KNOB_NAMES = {"epochs": "epochs", "lr": "lr", "batch_size": "batch", "optimizer": "optimiser"}


def format_defaults(family: str, defaults: dict) -> str:
    """`batch 100, epochs 5, lr 0.01, ...` from a method's registered defaults (and the batch every classification
    method gets unless it registers its own)."""
    shown = {key: value for key, value in defaults.items() if key != "from_parent"}
    prefix = ["the original model's recipe"] if defaults.get("from_parent") else []
    if METHOD_BASE_BATCH[family] and not prefix:
        shown = {"batch_size": METHOD_BASE_BATCH[family], **shown}
    parts = [f"{KNOB_NAMES.get(key, key)} {'the original' if value == 'parent' else f'{value:g}' if isinstance(value, float) else value}"
             for key, value in shown.items()]
    return ", ".join(prefix + parts)


def rows() -> list[dict]:
    """One row per method of every family, in the registry's order (case-insensitive by id)."""
    table = []
    for family in FAMILIES:
        base = sorted((m for (f, _), m in _METHODS.items() if f == family and not m.masked), key=lambda m: m.name.lower())
        for method in base:
            ref = reference(family, method.name)
            if ref is None:
                raise UserError(f"method {method.name} ({family}) has no entry in unlearn/references.py")
            ids = [method.name] + [m.name for (f, _), m in _METHODS.items() if f == family and m.masked and m.fn is method.fn]
            table.append({"family": family, "ids": " ".join(ids), "reference": f"{ref.repo}: {ref.file}",
                          "defaults": format_defaults(family, method.defaults), "differences": ref.differences})
    return table


def markdown(table: list[dict]) -> str:
    """The Markdown table of `rows()`."""
    lines = ["| family | id | reference (repository: file) | our defaults | differences, and why |", "|---|---|---|---|---|"]
    for row in table:
        ids = ", ".join(f"`{i}`" for i in row["ids"].split())
        lines.append(f"| {row['family']} | {ids} | {row['reference']} | {row['defaults']} | {row['differences']} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> Path:
    parser = Parser(description="Write the method table (Markdown + CSV) from the registry and unlearn/references.py.")
    parser.add_argument("--out", default="results/methods", help="output path without suffix (default results/methods)")
    args = parser.parse_args(argv)
    table = rows()
    md, _ = publish(args.out, markdown(table), table, "python -m unlearn.method_table")
    return md


if __name__ == "__main__":
    run_cli(main)
