"""The cells of one seed's corrective-unlearning grid in one process: evaluate the original model
(RESULTS/original__del0.json), then for each deletion share and method unlearn (main_unlearn.py) and evaluate
(main_test_unlearn.py --json RESULTS/{method}__del{share}.json), skipping every result file that exists. One process instead of two per cell saves most of a small grid's time (start-up, data loading).

    python experiments/corrective_cells.py --model_id corr_poisoning_Digits_s1_best --seed 1 --forget_set_size 126 \\
        --methods EU CF --shares 10 50 100 --results runs/corrective_poisoning_Digits/results/seed1
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import main_test_unlearn  # noqa: E402
import main_unlearn  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402

K_METHODS = {"EU", "CF", "EU_with_SalUn", "CF_with_SalUn"}  # methods that take --k


def deletion_size(forget_set_size: int, share: int) -> int:
    """The number of manipulated samples the unlearner knows at `share` percent (at least one)."""
    return max(1, (forget_set_size * share + 50) // 100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_id", required=True, help="the model trained on the manipulated set")
    parser.add_argument("--dataset", default="Digits")
    parser.add_argument("--model_dir", default="model_weights")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--forget_set_size", type=int, required=True, help="manipulated samples in the training set")
    parser.add_argument("--k", default="-1", help="EU-k / CF-k: the last k layers (-1 = all)")
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--shares", type=int, nargs="+", required=True, help="deletion shares in percent")
    parser.add_argument("--results", required=True, help="folder for the records {method}__del{share}.json")
    args = parser.parse_args(argv)
    if not all(0 < share <= 100 for share in args.shares):
        raise UserError(f"--shares {' '.join(map(str, args.shares))}: each must be in 1..100")
    common = ["--model_dir", args.model_dir, "--dataset", args.dataset]
    original = Path(args.results) / "original__del0.json"
    if not original.exists():
        main_test_unlearn.main(["--model_id", args.model_id, *common, "--label", "original", "--tag", "share=0",
                                "--json", str(original)])
    for share in args.shares:
        for method in args.methods:
            result = Path(args.results) / f"{method}__del{share}.json"
            if result.exists():
                continue
            extra = ["--k", args.k] if method in K_METHODS else []
            unlearned = main_unlearn.main(["--model_id", args.model_id, "--unlearn", method, "--seed", str(args.seed),
                                           "--deletion_size", str(deletion_size(args.forget_set_size, share)),
                                           *extra, *common, "--overwrite"])
            main_test_unlearn.main(["--model_id", unlearned, *common, "--label", method, "--tag", f"share={share}",
                                    "--json", str(result)])


if __name__ == "__main__":
    run_cli(main)
