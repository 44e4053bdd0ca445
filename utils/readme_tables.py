"""Copy the results/*.md tables into README.md between their markers, or check that they agree.

    python -m utils.readme_tables            # splice every results/NAME.md there is into README.md
    python -m utils.readme_tables --check    # change nothing; exit 1 when README.md and results/ disagree

A block in README.md is `<!-- results/NAME.md -->`, the file's text, `<!-- end results -->`. Both modes exit 1 when
a block's file is missing (splicing leaves that block as it is) or a Markdown table of figures stands outside every
block: every figure in the README comes from a script."""
import re
import sys
from pathlib import Path
from typing import Sequence

from .cli import Parser
from .errors import UserError, run_cli
from .io import save_text

BLOCK = re.compile(r"(<!-- (?P<name>results/[\w.-]+\.md) -->\n)(?P<body>.*?)(<!-- end results -->)", re.S)
NUMBER = re.compile(r"[-+−]?[\d,]*\.?\d+\s*(%|×|x|s|ms)?")


def blocks(text: str) -> list[re.Match]:
    """Every results block of the README text, in order."""
    return list(BLOCK.finditer(text))


def spliced(text: str, root: Path) -> str:
    """The README text with every block's body replaced by its results file (blocks without a file unchanged)."""
    def body(match: re.Match) -> str:
        path = root / match["name"]
        return f"{match[1]}\n{path.read_text().strip()}\n\n{match[4]}" if path.is_file() else match[0]
    return BLOCK.sub(body, text)


def is_number(cell: str) -> bool:
    """A table cell that holds a figure: '12.3', '1,046 / 573', '20.10 ± 0.72', '44.6×', '7.9 %'."""
    parts = [p.strip() for p in re.split(r"±|/|\(|\)", cell.replace("`", "")) if p.strip()]
    return bool(parts) and all(NUMBER.fullmatch(p) for p in parts)


def numeric_tables_outside_blocks(text: str) -> list[int]:
    """Line numbers (1-based) of Markdown tables with a row of two or more figures, outside every results block."""
    inside = set()
    for match in blocks(text):
        first = text.count("\n", 0, match.start()) + 1
        inside.update(range(first, text.count("\n", 0, match.end()) + 2))
    found, start = [], None
    for number, line in enumerate(text.splitlines() + [""], 1):
        if line.startswith("|"):
            start = start or number
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if number not in inside and sum(map(is_number, cells)) >= 2 and start not in found:
                found.append(start)
        else:
            start = None
    return found


def problems(readme: Path, root: Path) -> list[str]:
    """What keeps README.md from agreeing with results/: missing files, stale blocks, tables without a source."""
    text = readme.read_text()
    found = [f"{readme}:{n}: a table of figures outside a <!-- results/NAME.md --> block"
             for n in numeric_tables_outside_blocks(text)]
    found += [f"{readme}: {m['name']} does not exist; run the command named beside its marker"
              for m in blocks(text) if not (root / m["name"]).is_file()]
    fresh = {m["name"]: m["body"] for m in blocks(spliced(text, root))}
    found += [f"{readme}: the block of {m['name']} differs from the file; run python -m utils.readme_tables"
              for m in blocks(text) if (root / m["name"]).is_file() and m["body"] != fresh[m["name"]]]
    return found


def main(argv: Sequence[str] | None = None) -> None:
    parser = Parser(description=__doc__)
    parser.add_argument("--readme", default="README.md", help="the README to splice into or check")
    parser.add_argument("--root", default=".", help="folder that holds results/")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when they disagree")
    args = parser.parse_args(argv)
    readme, root = Path(args.readme), Path(args.root)
    if not readme.is_file():
        raise UserError(f"--readme {readme}: no such file")
    if not args.check:
        text = readme.read_text()
        new = spliced(text, root)
        if new != text:
            save_text(new, readme)
        print(f"{readme}: {len(blocks(new))} results blocks, {'updated' if new != text else 'unchanged'}")
    found = problems(readme, root)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        sys.exit(1)
    print(f"{readme}: {len(blocks(readme.read_text()))} results blocks agree with {root / 'results'}")


if __name__ == "__main__":
    run_cli(main)
