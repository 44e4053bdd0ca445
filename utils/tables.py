"""Plain-text tables for the terminal."""


def format_table(headers: list[str], rows: list[list], floatfmt: str = ".2f") -> str:
    """Columns padded to their widest cell; floats formatted with `floatfmt`, NaN shown as '-'."""
    def cell(value) -> str:
        if isinstance(value, float):
            return "-" if value != value else format(value, floatfmt)
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))
    out = [line, "-" * len(line)]
    for r in cells:
        out.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def markdown_table(headings: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, first column left-aligned and the others right-aligned."""
    lines = ["| " + " | ".join(headings) + " |", "|---" + "|---:" * (len(headings) - 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
