"""Corrective-unlearning grids: result rows (method × deletion share) -> a CSV and one figure per metric
against the share of the manipulated set the unlearner knew, as in the corrective-unlearning paper.

    python -m utils.corrective_report --results runs/corrective_poisoning/results --out runs/corrective_poisoning/grid

reads every {method}__del{percent}.json that main_test_unlearn.py --json wrote."""
import json
import re
from pathlib import Path
from typing import Sequence

from arg_parser import Parser

from .errors import UserError, run_cli
from .io import save_csv
from .plots import finish, pyplot
from .tables import format_table

RESULT_FILE = re.compile(r"(?P<method>.+)__del(?P<share>\d+)\.json")
METRICS = ["clean_test_accuracy", "attack_success_rate", "patched_test_accuracy", "confusion",
           "confused_pair_accuracy", "other_classes_accuracy", "deletion_accuracy", "unidentified_accuracy",
           "unlearn_time_s"]


def load_rows(folder: str | Path) -> list[dict]:
    """One row per result file: method, deletion share (%), and every corrective metric it holds."""
    folder = Path(folder)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise UserError(f"--results {folder} holds no result files; run main_test_unlearn.py --json {folder}/M__delP.json")
    rows = []
    for path in files:
        match = RESULT_FILE.fullmatch(path.name)
        if match is None:
            raise UserError(f"{path}: result files must be named {{method}}__del{{percent}}.json")
        report = json.loads(path.read_text())
        rows.append({"method": match["method"], "deletion_share": int(match["share"]),
                     **{key: report[key] for key in METRICS if report.get(key) is not None}})
    return sorted(rows, key=lambda r: (r["method"].lower(), r["deletion_share"]))


def metric_figure(rows: list[dict], metrics: list[str], path: str | Path) -> Path:
    """One panel per metric: value against deletion share, one line per method."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    methods = sorted({r["method"] for r in rows}, key=str.lower)
    for ax, metric in zip(axes[0], metrics):
        for method in methods:
            points = [(r["deletion_share"], r[metric]) for r in rows if r["method"] == method and metric in r]
            if points:
                ax.plot(*zip(*points), marker="o", label=method)
        ax.set_xlabel("share of the manipulated set known (%)")
        ax.set_title(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return finish(fig, path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = Parser(description=__doc__)
    parser.add_argument("--results", required=True, help="folder of {method}__del{percent}.json files")
    parser.add_argument("--out", required=True, help="output prefix: writes PREFIX.csv and PREFIX.png")
    args = parser.parse_args(argv)
    rows = load_rows(args.results)
    present = [m for m in METRICS if m != "unlearn_time_s" and any(m in r for r in rows)]
    print(format_table(["method", "known %", *present], [[r["method"], r["deletion_share"], *(r.get(m, float("nan"))
                                                                                         for m in present)] for r in rows]))
    csv = save_csv([{key: r.get(key, "") for key in ["method", "deletion_share", *METRICS]} for r in rows],
                   f"{args.out}.csv")
    png = metric_figure(rows, present, f"{args.out}.png")
    print(f"wrote {csv}, {png}")


if __name__ == "__main__":
    run_cli(main)
