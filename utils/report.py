"""One reporter for every evaluation record: it reads the records in --results and tabulates them with the view
their contents call for, then writes PREFIX.md, PREFIX.csv and PREFIX.png (and with --publish the README's files).

    python -m utils.report --results runs/compare_Digits/results --out runs/compare_Digits/table

Views: `recon` (PSNR / SSIM / NMSE per group: reconstruction and federated records; --title, --metrics),
`audit` (main_audit.py's records: U-LiRA, the challenge's ε and forget score, population MIA; ROC and ε figures),
`transfer` (records with kNN accuracy and CKA), `corrective` (records tagged with a deletion share), and `compare`
(UA / RA / TA / MIA and the gap to the retrained model, mean ± std over seeds). --view names one outright."""
import argparse
from typing import Callable, Sequence

from . import audit_report, compare, corrective_report, recon_compare, transfer_report
from .errors import UserError, run_cli
from .results import load_records

VIEWS: dict[str, Callable[[Sequence[str]], object]] = {
    "recon": recon_compare.main, "transfer": transfer_report.main, "corrective": corrective_report.main,
    "compare": compare.main, "audit": audit_report.main}


def view_of(records: list[dict]) -> str:
    """The view a set of records calls for, refused in one line when they mix kinds."""
    def kind(record: dict) -> str:
        if "groups" in record:
            return "recon"
        if "audit" in record:
            return "audit"
        if record.get("knn_accuracy") is not None:
            return "transfer"
        if "share" in record["tags"]:
            return "corrective"
        return "compare"

    kinds = sorted({kind(r) for r in records})
    if len(kinds) > 1:
        raise UserError(f"the records mix {' and '.join(kinds)} results; report each folder of one kind, or pass "
                        f"--view")
    return kinds[0]


def main(argv: Sequence[str] | None = None) -> object:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--results")
    parser.add_argument("--view", choices=sorted(VIEWS))
    parser.add_argument("-h", "--help", action="store_true")
    known, rest = parser.parse_known_args(argv)
    if known.help and known.view:
        return VIEWS[known.view](["--help"])
    if known.help:
        print(__doc__.strip() + "\n\nEach view's flags: python -m utils.report --view VIEW --help")
        return None
    if not known.results:
        raise UserError("--results FOLDER is required: the folder of evaluation records")
    view = known.view or view_of(load_records(known.results))
    print(f"report: the {view} view")
    return VIEWS[view](["--results", known.results, *rest])


if __name__ == "__main__":
    run_cli(main)
