"""Compare unlearning methods: result rows (one per method and seed) -> a CSV, a Markdown table of mean ± std
over seeds (retrain first, as in the SalUn paper) and a figure of Avg. Gap against run time ÷ retrain time.

    python -m utils.compare --results runs/compare_Digits/results --out runs/compare_Digits/table

reads every evaluation record (main_test_unlearn.py --json) in the folder, a row per record: its label (the method
id unless --label named it) and its seed; writes table.md, table.csv and table.png; with --publish results/NAME also results/NAME.md and .csv (mean and std per method) for the README."""
import math
import statistics
from pathlib import Path
from typing import Sequence

from . import tables
from .errors import UserError, run_cli
from .io import save_csv, save_text
from .plots import finish, pyplot
from .results import load_records, publish, report_parser

# result key -> (table heading, number format)
COLUMNS = {"UA": ("UA", ".2f"), "RA": ("RA", ".2f"), "TA": ("TA", ".2f"), "MIA": ("MIA", ".2f"),
           "avg_gap": ("Avg. Gap", ".2f"), "js_to_retrain": ("JS", ".4f"), "unlearn_time_s": ("Time (s)", ".1f"),
           "rte_ratio": ("Time / retrain", ".3f"), "ulira_auc": ("U-LiRA AUC", ".3f")}
OPTIONAL = ("rte_ratio", "ulira_auc")  # columns a record may lack (U-LiRA: main_audit.py's records only)
REFERENCE = "retrain"


def method_order(method: str) -> tuple[bool, str, bool]:
    """Sort key: retrain first, then by name, each method followed by its _with_SalUn variant."""
    name = method.lower()
    return name != REFERENCE, name.removesuffix("_with_salun"), name.endswith("_with_salun")


def read_result(record: dict) -> dict:
    """One result row (method = the record's label, seed, the columns) from an evaluation record."""
    if record["avg_gap"] is None:
        raise UserError(f"the record of {record['model_id']} ({record['label']}) has no gap to a retrained model; "
                        f"evaluate it with --retrain_model_id")
    return {"method": record["label"], "seed": record["seed"], **{key: record.get(key) for key in COLUMNS},
            "ulira_auc": (record.get("ulira") or {}).get("auc")}


def load_results(folder: str | Path) -> list[dict]:
    """Every result row in `folder`, sorted by method (retrain first) and seed."""
    records = load_records(folder, [key for key in COLUMNS if key not in OPTIONAL],
                           "main_test_unlearn.py --retrain_model_id ID --json FOLDER/METHOD__seedS.json")
    return sorted(map(read_result, records), key=lambda row: (method_order(row["method"]), row["seed"]))


def mean_std(values: list[float | None]) -> tuple[float, float]:
    """Mean and sample standard deviation of the values given, None and NaN left out (std 0 for one; NaN for none)."""
    given = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not given:
        return math.nan, math.nan
    return statistics.fmean(given), statistics.stdev(given) if len(given) > 1 else 0.0


def summarise(rows: list[dict]) -> list[dict]:
    """One row per method, retrain first: {"method", "seeds", key: (mean, std) for each column}."""
    methods = sorted({row["method"] for row in rows}, key=method_order)
    summary = []
    for method in methods:
        mine = [row for row in rows if row["method"] == method]
        summary.append({"method": method, "seeds": len(mine), **{key: mean_std([r[key] for r in mine]) for key in COLUMNS}})
    return summary


def cell(mean: float, std: float, fmt: str) -> str:
    """'mean ± std' in `fmt`, or '-' where there is no value."""
    return "-" if math.isnan(mean) else f"{mean:{fmt}} ± {std:{fmt}}"


def shown(summary: list[dict]) -> dict[str, tuple[str, str]]:
    """The columns to show: every one, less an optional one no row has a value of."""
    return {key: spec for key, spec in COLUMNS.items()
            if key not in OPTIONAL or any(not math.isnan(row[key][0]) for row in summary)}


def markdown_table(summary: list[dict]) -> str:
    """The summary as a Markdown table: mean ± std over seeds per method."""
    columns = shown(summary)
    headings = ["Method", *(heading for heading, _ in columns.values()), "Seeds"]
    return tables.markdown_table(headings, [[row["method"], *(cell(*row[key], fmt) for key, (_, fmt) in columns.items()),
                                            str(row["seeds"])] for row in summary])


def write_csv(rows: list[dict], path: str | Path) -> Path:
    """Every result row (method, seed, UA, RA, TA, MIA, avg_gap, js_to_retrain, unlearn_time_s, rte_ratio)."""
    return save_csv([{"method": r["method"], "seed": r["seed"], **{key: r[key] for key in COLUMNS}} for r in rows], path)


def summary_rows(summary: list[dict]) -> list[dict]:
    """The summary as plain CSV rows: method, seeds, then KEY_mean and KEY_std for each column."""
    return [{"method": row["method"], "seeds": row["seeds"],
             **{f"{key}_{part}": value for key in COLUMNS for part, value in zip(("mean", "std"), row[key])}}
            for row in summary]


def gap_time_figure(summary: list[dict], path: str | Path) -> Path:
    """Avg. Gap against run time ÷ retrain time (log scale), one labelled point per method with std error bars: the
    trade-off at a glance (the retrained model sits at 1, gap 0)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for row in summary:
        (rte, rte_std), (gap, gap_std) = row["rte_ratio"], row["avg_gap"]
        if not rte > 0:
            continue
        ax.errorbar(rte, gap, xerr=rte_std, yerr=gap_std, fmt="o", capsize=3,
                    color="black" if row["method"] == REFERENCE else None)
        ax.annotate(row["method"], (rte, gap), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("run time ÷ retrain time (log scale)")
    ax.set_ylabel("Avg. Gap to retrain (percentage points)")
    ax.grid(alpha=0.3, which="both")
    return finish(fig, path)


def main(argv: Sequence[str] | None = None) -> None:
    args = report_parser(__doc__, "evaluation records (main_test_unlearn.py --json)").parse_args(argv)
    rows = load_results(args.results)
    summary = summarise(rows)
    written = [save_text(markdown_table(summary) + "\n", f"{args.out}.md"), write_csv(rows, f"{args.out}.csv"),
               gap_time_figure(summary, f"{args.out}.png")]
    print(markdown_table(summary))
    print(f"wrote {', '.join(map(str, written))}")
    if args.publish:
        seeds = sorted({row["seed"] for row in rows})
        body = f"Mean ± std over seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}.\n\n{markdown_table(summary)}"
        publish(args.publish, body, summary_rows(summary), args.command or "python -m utils.compare")


if __name__ == "__main__":
    run_cli(main)
