"""Corrective-unlearning grids: result rows (seed × method × deletion share) -> a CSV, one figure per metric (mean ±
std over seeds) against the share of the manipulated set the unlearner knew, as in the corrective-unlearning paper,
and with --publish a Markdown table per method × share of the attack success (poisoning) or confusion (interclass
swap) and of the clean accuracy, mean ± std over seeds.

    python -m utils.corrective_report --results runs/corrective_poisoning_Digits/results \
        --out runs/corrective_poisoning_Digits/grid --publish results/corrective_poisoning_digits

reads every evaluation record under the folder (main_test_unlearn.py --json, as experiments/corrective_cells.py
writes them): its label is the method (`original`: the model before unlearning), its seed the run's, and its tag
`share` the percentage of the manipulated set the unlearner knew."""
import math
from pathlib import Path
from typing import Sequence

from . import tables
from .compare import mean_std
from .errors import UserError, run_cli
from .io import save_csv
from .plots import finish, pyplot
from .results import load_records, publish, report_parser
from .tables import format_table

METRICS = ["clean_test_accuracy", "attack_success_rate", "patched_test_accuracy", "confusion",
           "confused_pair_accuracy", "other_classes_accuracy", "deletion_accuracy", "unidentified_accuracy",
           "unlearn_time_s"]
HEADLINE = {"attack_success_rate": "Attack success rate (%)", "confusion": "Confusion of the swapped classes (%)"}
ORIGINAL = "original"


def read_row(record: dict) -> dict:
    """One row: seed, method, deletion share (%) and every corrective metric the record holds."""
    if "share" not in record["tags"]:
        raise UserError(f"the record of {record['model_id']} ({record['label']}) has no tag share; evaluate it with "
                        f"--tag share=PERCENT (the share of the manipulated set the unlearner knew)")
    return {"seed": record["seed"], "method": record["label"], "deletion_share": record["tags"]["share"],
            **{key: record[key] for key in METRICS if record.get(key) is not None}}


def load_rows(folder: str | Path) -> list[dict]:
    """Every row under `folder` (and its sub-folders), sorted by method, share and seed."""
    records = load_records(folder, hint="main_test_unlearn.py --label METHOD --tag share=P --json FOLDER/NAME.json")
    measures = [key for key in METRICS if key != "unlearn_time_s"]
    if not any(key in record for record in records for key in measures):
        raise UserError(f"the records in {folder} hold no corrective measure ({', '.join(measures)}): evaluate "
                        f"models trained on a manipulated set (main_train.py --dataset_method ...)")
    return sorted(map(read_row, records), key=lambda r: (r["method"].lower(), r["deletion_share"], r["seed"]))


def summarise(rows: list[dict]) -> list[dict]:
    """One row per (method, share): seeds, and (mean, std) over seeds of every metric present."""
    keys = sorted({(r["method"], r["deletion_share"]) for r in rows}, key=lambda k: (k[0].lower(), k[1]))
    summary = []
    for method, share in keys:
        mine = [r for r in rows if r["method"] == method and r["deletion_share"] == share]
        summary.append({"method": method, "deletion_share": share, "seeds": len(mine),
                        **{m: mean_std([r.get(m) for r in mine]) for m in METRICS if any(m in r for r in mine)}})
    return summary


def cell(value: tuple[float, float] | None) -> str:
    return "-" if value is None or math.isnan(value[0]) else f"{value[0]:.1f} ± {value[1]:.1f}"


def share_table(summary: list[dict], metric: str) -> str:
    """Methods as rows, deletion shares as columns, `metric` mean ± std in each cell."""
    shares = sorted({s["deletion_share"] for s in summary if s["method"] != ORIGINAL})
    methods = list(dict.fromkeys(s["method"] for s in summary if s["method"] != ORIGINAL))
    lookup = {(s["method"], s["deletion_share"]): s.get(metric) for s in summary}
    return tables.markdown_table(["Method", *(f"{p} %" for p in shares)],
                                 [[m, *(cell(lookup.get((m, p))) for p in shares)] for m in methods])


def markdown(rows: list[dict], summary: list[dict]) -> str:
    """The headline metric and the clean accuracy per method × share known, after a line on the original."""
    seeds = sorted({r["seed"] for r in rows})
    headline = next((m for m in HEADLINE if any(m in s for s in summary)), None)
    parts = []
    before = next((s for s in summary if s["method"] == ORIGINAL), None)
    if before is not None:
        said = [f"{HEADLINE[headline].split(' (')[0].lower()} {cell(before.get(headline))} %"] if headline else []
        parts.append(f"Before unlearning: {', '.join(said + [f'clean accuracy {cell(before.get(METRICS[0]))} %'])}.")
    of = (f"mean ± std over seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}, "
          f"by the share of the manipulated set known")
    for metric, title in ([(headline, HEADLINE[headline])] if headline else []) + [(METRICS[0], "Clean test accuracy (%)")]:
        parts.append(f"**{title}**, {of}:\n\n{share_table(summary, metric)}")
    return "\n\n".join(parts)


def metric_figure(summary: list[dict], metrics: list[str], path: str | Path) -> Path:
    """One panel per metric: mean (± std over seeds) against deletion share, one line per method."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    methods = list(dict.fromkeys(s["method"] for s in summary if s["method"] != ORIGINAL))
    for ax, metric in zip(axes[0], metrics):
        for method in methods:
            points = [(s["deletion_share"], *s[metric]) for s in summary if s["method"] == method and metric in s]
            if points:
                shares, means, stds = zip(*points)
                ax.errorbar(shares, means, yerr=stds, marker="o", capsize=2, label=method)
        ax.set_xlabel("share of the manipulated set known (%)")
        ax.set_title(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return finish(fig, path)


def main(argv: Sequence[str] | None = None) -> None:
    args = report_parser(__doc__, "seed{S}/{method}__del{percent}.json files",
                         outputs="PREFIX.csv and PREFIX.png").parse_args(argv)
    rows = load_rows(args.results)
    summary = summarise(rows)
    present = [m for m in METRICS if m != "unlearn_time_s" and any(m in r for r in rows)]
    print(format_table(["method", "known %", "seeds", *present],
                       [[s["method"], s["deletion_share"], s["seeds"], *(s.get(m, (math.nan,))[0] for m in present)]
                        for s in summary]))
    csv = save_csv([{key: r.get(key, "") for key in ["seed", "method", "deletion_share", *METRICS]} for r in rows],
                   f"{args.out}.csv")
    png = metric_figure(summary, present, f"{args.out}.png")
    print(f"wrote {csv}, {png}")
    if args.publish:
        plain = [{"method": s["method"], "deletion_share": s["deletion_share"], "seeds": s["seeds"],
                  **{f"{m}_{part}": s[m][i] for m in METRICS if m in s for i, part in enumerate(("mean", "std"))}}
                 for s in summary]
        publish(args.publish, markdown(rows, summary), plain, args.command or "python -m utils.corrective_report")


if __name__ == "__main__":
    run_cli(main)
