"""The seed-000 table: a row for the zero-filled input, then one per model (Original, Oracle, each unlearning
method) with PSNR / SSIM / NMSE per group, the gap to the Oracle and the time relative to retraining, from
main_test_unlearn.py --json files.

    python -m utils.recon_compare --results runs/mri_unlearn/results --out runs/mri_unlearn/table

reads every evaluation record in the folder (main_test_unlearn.py or main_test.py --json; a row per record, named
by its --label, in the order of the file names) and writes table.md, table.csv and table.png; with --publish
results/NAME also results/NAME.md and .csv (--metrics chooses their columns) for the README."""
from pathlib import Path
from typing import Sequence

from . import tables
from .errors import UserError, run_cli
from .io import save_csv, save_text
from .plots import finish, pyplot
from .results import load_records, publish, report_parser

METRICS = (("psnr", "PSNR", ".2f"), ("ssim", "SSIM", ".3f"), ("nmse", "NMSE", ".4f"))


def read_results(folder: Path) -> list[tuple[str, dict]]:
    """(row name, record) in the order of the file names."""
    return [(record["label"], record) for record in load_records(folder, ["groups"], "experiments/mri_unlearn.sh")]


def table_rows(results: list[tuple[str, dict]]) -> tuple[list[str], list[dict]]:
    """Column names and one plain row per model: retain groups first, then the forget group."""
    first = results[0][1]
    forget = first.get("forget_group")
    groups = [g for g in first["groups"] if g != forget] + ([forget] if forget else [])
    columns = [f"{g} {label}" for g in groups for _, label, _ in METRICS]
    rows = [zero_filled_row(results[0][1], groups)] if all("zero_filled" in first["groups"][g] for g in groups) else []
    for name, report in results:
        row = {"model": name}
        for g in groups:
            for key, label, _ in METRICS:
                row[f"{g} {label}"] = report["groups"][g][key]
                row[f"{g} {label} std"] = report["groups"][g][f"{key}_std"]
        gap = report.get("gap") or {}
        row["gap PSNR (mean over groups)"] = sum(gap[g]["psnr"] for g in groups) / len(groups) if gap else None
        row["time s"] = report.get("unlearn_time_s")
        row["time / retrain"] = report.get("rte_ratio")
        rows.append(row)
    return columns, rows


def zero_filled_row(report: dict, groups: list[str]) -> dict:
    """The under-sampled input itself, the floor every model must beat."""
    row = {"model": "Zero-filled"}
    for g in groups:
        for key, label, _ in METRICS:
            row[f"{g} {label}"] = report["groups"][g]["zero_filled"][key]
            row[f"{g} {label} std"] = report["groups"][g]["zero_filled"][f"{key}_std"]
    return {**row, "gap PSNR (mean over groups)": None, "time s": None, "time / retrain": None}


EXTRAS = (("gap PSNR (mean over groups)", "Gap PSNR", ".2f"), ("time s", "Time (s)", ".1f"),
          ("time / retrain", "Time / retrain", ".2f"))


def markdown(columns: list[str], rows: list[dict], drop_empty: bool = False) -> str:
    """Mean ± std per group and metric, then the gap, time and time ratio (columns without a value dropped if asked)."""
    formats = {f"{g} {label}": fmt for g in {c.rsplit(' ', 1)[0] for c in columns} for _, label, fmt in METRICS}
    extras = [e for e in EXTRAS if not drop_empty or any(row[e[0]] is not None for row in rows)]
    body = []
    for row in rows:
        cells = [row["model"]]
        for c in columns:
            cells.append(f"{format(row[c], formats[c])} ± {format(row[c + ' std'], formats[c])}")
        for key, _, fmt in extras:
            cells.append("" if row[key] is None else format(row[key], fmt))
        body.append(cells)
    return tables.markdown_table(["Model", *columns, *(heading for _, heading, _ in extras)], body)


def figure(columns: list[str], rows: list[dict], path: Path, title: str) -> Path:
    """PSNR and SSIM per group, one bar group per model."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.1 * len(rows) + 4), 4.2))
    names = [r["model"] for r in rows]
    for ax, label in zip(axes, ("PSNR", "SSIM")):
        wanted = [c for c in columns if c.endswith(f" {label}")]
        width = 0.8 / len(wanted)
        for i, column in enumerate(wanted):
            xs = [k + (i - (len(wanted) - 1) / 2) * width for k in range(len(rows))]
            ax.bar(xs, [r[column] for r in rows], width, yerr=[r[column + " std"] for r in rows], capsize=2,
                   label=column.rsplit(" ", 1)[0])
        ax.set_xticks(range(len(rows)), names, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel(label + (" (dB)" if label == "PSNR" else ""))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return finish(fig, path)


def main(argv: Sequence[str] | None = None) -> Path:
    parser = report_parser(__doc__, "evaluation records of reconstruction models", publish_example="results/mri_unlearn")
    parser.add_argument("--title", default="Test-set quality per group (mean ± std over volumes)", help="figure title")
    parser.add_argument("--metrics", default="psnr,ssim,nmse", help="columns of the --publish table: psnr,ssim,nmse")
    args = parser.parse_args(argv)
    chosen = [m for m in args.metrics.split(",") if m]
    unknown = [m for m in chosen if m not in {key for key, _, _ in METRICS}]
    if unknown or not chosen:
        raise UserError(f"--metrics {args.metrics}: choose from psnr, ssim, nmse (comma-separated)")
    columns, rows = table_rows(read_results(Path(args.results)))
    text = markdown(columns, rows)
    written = [save_text(text + "\n", f"{args.out}.md"), save_csv(rows, f"{args.out}.csv"),
               figure(columns, rows, Path(f"{args.out}.png"), args.title)]
    print(text)
    print(f"wrote {', '.join(map(str, written))}")
    if args.publish:
        labels = {label for key, label, _ in METRICS if key in chosen}
        shown = [c for c in columns if c.rsplit(" ", 1)[1] in labels]
        publish(args.publish, markdown(shown, rows, drop_empty=True), rows, args.command or "python -m utils.recon_compare")
    return Path(args.out)


if __name__ == "__main__":
    run_cli(main)
