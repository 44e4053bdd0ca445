"""Tune an unlearning method's knobs with Optuna: trials are scored by their gap to a model retrained without a
validation forget set (another draw of the same kind as yours), then the best setting runs on your forget set over
several seeds. Studies live in a database, so workers on many machines can share one:

    python main_tune.py --model_id digits_best --unlearn GA --class_to_forget 3 --trials 30
    python main_tune.py ... --study ga_c3 --storage postgresql://user@host/db     # the same line on every worker

Writes {runs_dir}/tune/{study}/best.json (read by main_unlearn.py --hparams), trials.csv, history.png,
importances.png (pareto.png with two objectives), final.md and final.csv."""
from arg_parser import build_parser
from utils.errors import run_cli


def main(argv=None) -> dict:
    parser = build_parser("data", "model", "unlearning", "tune", "system", "output", description=__doc__)
    args = parser.parse_args(argv)
    from unlearn.families import family_for_flags  # after parsing: --help and flag errors answer without torch
    from unlearn.tune import parse_objectives, tune
    from unlearn.workflow import refuse_flags

    refuse_flags(args, {"json": "is for the evaluation scripts; main_tune.py writes {runs_dir}/tune/{study}/best.json, "
                                "trials.csv and final.csv: drop it",
                        "save_fig": "is for the evaluation scripts; main_tune.py writes its figures into "
                                    "{runs_dir}/tune/{study}/: drop it",
                        "mask_path": "is main_unlearn.py's; main_tune.py computes the SalUn mask of each forget set "
                                     "it runs on: drop it"})
    parse_objectives(args.objective)  # flag mistakes first, before the data and model are read
    setup = family_for_flags(args).load_setup(args)
    return tune(setup, args)


if __name__ == "__main__":
    run_cli(main)
