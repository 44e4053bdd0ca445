"""Audit reports: the records of main_audit.py (one per method) -> a table of every attack's figures side by side,
U-LiRA's ROC curves on log-log axes and the histograms of the challenge's per-example ε:

    python -m utils.audit_report --results runs/audit_digits/records --out runs/audit_digits/audit

writes audit.md, audit.csv, audit_roc.png and audit_epsilon.png; with --publish results/NAME also results/NAME.md and
.csv (and the two figures beside them) for the README."""
import math
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import run_cli
from .io import atomic_path, save_csv, save_text
from .plots import finish, pyplot
from .privacy import EPSILON_CAP
from .results import load_records, publish, report_parser
from .tables import markdown_table


def summary_row(label: str, metrics: dict) -> dict:
    """One table row of an audit's figures (NaN for an attack it did not run)."""
    ulira, challenge = metrics.get("ulira", {}), metrics.get("challenge", {})
    return {"method": label, "ulira_auc": ulira.get("auc", math.nan),
            "ulira_tpr_1pct": ulira.get("tpr_at_1pct_fpr", math.nan),
            "ulira_tpr_0.1pct": ulira.get("tpr_at_0.1pct_fpr", math.nan),
            "balanced_accuracy": ulira.get("balanced_accuracy", math.nan),
            "epsilon_median": challenge.get("epsilon_median", math.nan),
            "forget_score": challenge.get("forget_score", math.nan), "final": challenge.get("final", math.nan),
            "population_mia": metrics.get("population", {}).get("MIA", math.nan), "avg_gap": metrics["avg_gap"]}


TABLE_HEADINGS = {"method": "Method", "ulira_auc": "U-LiRA AUC", "ulira_tpr_1pct": "TPR@1%FPR",
                  "ulira_tpr_0.1pct": "TPR@0.1%FPR", "balanced_accuracy": "Bal. acc.", "epsilon_median": "median ε",
                  "forget_score": "Forget score F", "final": "F·RA·TA ratio", "population_mia": "Pop. MIA",
                  "avg_gap": "Avg. Gap"}


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    def fmt(key: str, value) -> str:
        if isinstance(value, str):
            return value
        return "-" if math.isnan(value) else f"{value:.2f}" if key in ("population_mia", "avg_gap") else f"{value:.3f}"
    return markdown_table(list(TABLE_HEADINGS.values()), [[fmt(k, row[k]) for k in TABLE_HEADINGS] for row in rows])


def roc_figure(curves: dict[str, dict], path: Path) -> Path:
    """ROC curves of U-LiRA on log-log axes (LiRA's view: the low-FPR corner is what matters), one per method."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    floor = 1e-3
    for label, roc in curves.items():
        fpr, tpr = np.maximum(roc["fpr"], floor), np.maximum(roc["tpr"], floor)
        ax.plot(fpr, tpr, label=label)
    ax.plot([floor, 1], [floor, 1], color="grey", linestyle=":", label="chance")
    ax.set(xscale="log", yscale="log", xlim=(floor, 1), ylim=(floor, 1.05), xlabel="false positive rate",
           ylabel="true positive rate", title="U-LiRA: unlearned vs retrained shadows")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return finish(fig, path)


def epsilon_figure(epsilons: dict[str, list[float]], path: Path) -> Path:
    """Histograms of the challenge's per-example ε, one per method (the cap, 50, shown at the right edge)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    top = 6.0
    bins = np.linspace(0, top + 0.5, 14)
    for label, eps in epsilons.items():
        ax.hist(np.minimum(np.asarray(eps, float), top + 0.25), bins=bins, histtype="step", linewidth=1.5, label=label)
    ax.set(xlabel=f"per-example ε (values ≥ {top:g} drawn at the right edge; cap {EPSILON_CAP:g})",
           ylabel="forget examples", title="NeurIPS 2023 challenge ε")
    ax.legend(fontsize=8)
    return finish(fig, path)


def load_audits(folder: str | Path) -> list[dict]:
    """Every main_audit.py record in `folder` (a record without audit figures is refused): the original and retrain
    first, as the ladder starts, then in the order they were written."""
    records = load_records(folder, ["audit"], "main_audit.py --json FOLDER/NAME.json")
    return sorted(records, key=lambda r: (r["label"] != "original", r["label"] != "retrain", r["written"]))


def main(argv: Sequence[str] | None = None) -> None:
    args = report_parser(__doc__, "main_audit.py records (--json)",
                         "PREFIX.md, PREFIX.csv, PREFIX_roc.png and PREFIX_epsilon.png").parse_args(argv)
    records = load_audits(args.results)
    rows = [summary_row(r["label"], r) for r in records]
    shadows = sorted({r["audit"]["shadows"] for r in records})
    targets = sorted({r["audit"]["targets"] for r in records})
    note = (f"{', '.join(map(str, shadows))} shadow models, {', '.join(map(str, targets))} forget rows; U-LiRA's AUC "
            f"and TPR at low FPR (unlearned vs retrained shadows, each shadow the target in turn), the NeurIPS 2023 "
            f"challenge's median per-example ε, forget score F and F × RA/RA_retrain × TA/TA_retrain, the population "
            f"SVC MIA-efficacy (%) and the Avg. Gap to the retrained shadows (points).")
    out = Path(args.out)
    figures = [roc_figure({r["label"]: r["ulira"]["roc"] for r in records if "ulira" in r},
                          out.with_name(out.name + "_roc.png")),
               epsilon_figure({r["label"]: r["challenge"]["epsilons"] for r in records if "challenge" in r},
                              out.with_name(out.name + "_epsilon.png"))]
    written = [save_text(f"{note}\n\n{table(rows)}\n", f"{args.out}.md"), save_csv(rows, f"{args.out}.csv"), *figures]
    print(table(rows))
    print(f"wrote {', '.join(map(str, written))}")
    if args.publish:
        prefix = Path(args.publish)
        publish(prefix, f"{note}\n\n{table(rows)}", rows, args.command or "python -m utils.audit_report")
        for figure in figures:
            with atomic_path(prefix.with_name(prefix.name + figure.name.removeprefix(out.name))) as tmp:
                shutil.copyfile(figure, tmp)


if __name__ == "__main__":
    run_cli(main)
