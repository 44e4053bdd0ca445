"""Audit an unlearning method's privacy with shadow models: per-example U-LiRA (Hayes et al. 2024), the NeurIPS 2023
unlearning challenge's per-example epsilon and forget score, and the population SVC MIA, side by side:

    python main_audit.py --model_id digits_best --unlearn SCRUB --num_indexes_to_replace 60 --shadows 16
    torchrun --nproc_per_node 2 main_audit.py ...     # the shadows spread over the processes

Each shadow is trained with the original's recipe on a random half of the train split, unlearned with the method on
the forget rows it holds, and retrained without them (--unlearn original audits the shadows as trained). Shadows are
cached by recipe and reused across methods. Writes {runs_dir}/audit/{name}/audit.json (an evaluation record),
audit.md, examples.csv, roc.png and epsilon.png."""
from arg_parser import build_parser
from utils.errors import run_cli


def main(argv=None) -> dict:
    parser = build_parser("data", "model", "unlearning", "audit", "system", "output", "record", description=__doc__)
    args = parser.parse_args(argv)
    from unlearn.audit import audit, parse_attacks  # after parsing: --help and flag errors answer without torch
    from unlearn.families import family_for_flags
    from unlearn.workflow import load_image_setup, refuse_flags
    from utils import distributed
    from utils.errors import UserError

    if not family_for_flags(args).audited:
        raise UserError("main_audit.py audits image classifiers (--dataset); it has no shadow-model audit of MRI "
                        "reconstruction: drop --train_groups / --sites")
    refuse_flags(args, {"save_fig": "is for the evaluation scripts; main_audit.py writes roc.png and epsilon.png "
                                    "into {runs_dir}/audit/{name}/: drop it",
                        "mask_path": "is main_unlearn.py's; the audit computes each shadow's SalUn mask at "
                                     "--mask_thresh: drop it"})
    parse_attacks(args.attack)  # flag mistakes first, before the data and model are read
    dist = distributed.setup(args.device)
    try:
        setup = load_image_setup(args)
        if setup.device != dist.device:  # under torchrun on GPUs: each process on its own
            setup.data.place(dist.device)
            setup.model.to(dist.device)
            setup.device = dist.device
        return audit(setup, args, dist)
    finally:
        dist.close()


if __name__ == "__main__":
    run_cli(main)
