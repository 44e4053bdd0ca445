"""Tabulate kNN transfer accuracy and CKA to the retrained model per method: a Markdown table, a CSV and a bar chart.

    python -m utils.transfer_report --results runs/transfer_Digits/results --out runs/transfer_Digits/table

reads every evaluation record that main_test_unlearn.py --json --knn_dataset ... --cka_with RETRAIN_ID wrote, a row
per record named by its label (`original` and `retrain` among them), and writes table.md, table.csv and table.png; with --publish results/NAME
also results/NAME.md and .csv for the README."""
import math
from pathlib import Path
from typing import Sequence

from . import tables
from .compare import method_order
from .errors import UserError, run_cli
from .io import save_csv, save_text
from .plots import finish, pyplot
from .results import load_records, publish, report_parser

# result key -> (table heading, number format)
COLUMNS = {"UA": ("UA", ".2f"), "RA": ("RA", ".2f"), "TA": ("TA", ".2f"), "MIA": ("MIA", ".2f"),
           "avg_gap": ("Avg. Gap", ".2f"), "knn_accuracy": ("kNN acc.", ".2f"), "cka": ("CKA to retrain", ".4f"),
           "unlearn_time_s": ("Time (s)", ".1f")}
ORIGINAL = "original"
Y_RANGE = {"knn_accuracy": (5.0, 100.5), "cka": (0.05, 1.005)}  # bar charts: room below the lowest bar, top


def row_order(method: str) -> tuple:
    """The original model first, then retrain, then the methods by name."""
    return method.lower() != ORIGINAL, method_order(method)


def read_result(record: dict) -> dict:
    """One row {"method", key: value for each column} from an evaluation record."""
    for key, flag in (("knn_accuracy", "--knn_dataset"), ("cka", "--cka_with"), ("avg_gap", "--retrain_model_id")):
        if record[key] is None:
            raise UserError(f"the record of {record['model_id']} ({record['label']}) has no {key}; evaluate with {flag}")
    return {"method": record["label"], **{key: record[key] for key in COLUMNS},
            "knn_dataset": record.get("knn_dataset"), "cka_with": record.get("cka_with")}


def load_results(folder: str | Path) -> list[dict]:
    """Every row in `folder`, the original model first, then retrain, then the methods by name."""
    records = load_records(folder, COLUMNS, "main_test_unlearn.py --knn_dataset D --cka_with ID --json FOLDER/NAME.json")
    return sorted(map(read_result, records), key=lambda row: row_order(row["method"]))


def cell(value: float | None, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:{fmt}}"


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    headings = ["Method", *(heading for heading, _ in COLUMNS.values())]
    return tables.markdown_table(headings, [[row["method"], *(cell(row[key], fmt) for key, (_, fmt) in COLUMNS.items())]
                                            for row in rows])


def bar_figure(rows: list[dict], path: str | Path) -> Path:
    """kNN accuracy and CKA to the retrained model per method, the retrained model's values dashed."""
    plt = pyplot()
    methods = [row["method"] for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.3 * len(rows)), 4.5))
    retrained = next((row for row in rows if row["method"].lower() == "retrain"), None)
    for ax, key, label in ((axes[0], "knn_accuracy", f"kNN accuracy (%) on {rows[0]['knn_dataset']}"),
                           (axes[1], "cka", "linear CKA to the retrained model")):
        values = [row[key] for row in rows]
        ax.bar(methods, values, color=["black" if m.lower() in (ORIGINAL, "retrain") else "tab:blue" for m in methods])
        if retrained is not None:
            ax.axhline(retrained[key], color="tab:red", linestyle="--", linewidth=1, label="retrain")
            ax.legend(loc="lower right")
        margin, top = Y_RANGE[key]
        ax.set_ylim(max(0.0, min(values) - margin), top)
        ax.set_title(label, fontsize=9)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    return finish(fig, path)


def main(argv: Sequence[str] | None = None) -> None:
    args = report_parser(__doc__, "evaluation records", publish_example="e.g. results/transfer_digits").parse_args(argv)
    rows = load_results(args.results)
    plain = [{"method": row["method"], **{key: row[key] for key in COLUMNS}} for row in rows]
    written = [save_text(markdown_table(rows) + "\n", f"{args.out}.md"), save_csv(plain, f"{args.out}.csv"),
               bar_figure(rows, f"{args.out}.png")]
    print(f"kNN on {rows[0]['knn_dataset']}, CKA to {rows[0]['cka_with']}")
    print(markdown_table(rows))
    print(f"wrote {', '.join(map(str, written))}")
    if args.publish:
        body = f"kNN on `{rows[0]['knn_dataset']}`, CKA to the retrained model.\n\n{markdown_table(rows)}"
        publish(args.publish, body, plain, args.command or "python -m utils.transfer_report")


if __name__ == "__main__":
    run_cli(main)
