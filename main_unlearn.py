"""Unlearn a class or a subset from a trained model (seed-001 front door):
model_weights/{model_id}_FORGOTTEN_{c}_{METHOD}_mask{t}_unlearnEpochs{e}_unlearnlr{lr}.pt"""
from pathlib import Path

from arg_parser import build_parser
from utils.errors import run_cli


def main(argv=None) -> str:
    parser = build_parser("data", "model", "unlearning", "system", "output", description=__doc__)
    parser.add_argument("--list", action="store_true", help="list the unlearning methods and exit")
    args = parser.parse_args(argv)
    import unlearn  # after parsing: --help and flag errors answer without importing torch
    from unlearn import masks
    from unlearn.workflow import load_setup, planned_hparams, refuse_existing, unlearn_model
    from utils import checkpoints

    if args.list:
        for family in ("classification", "reconstruction", "federated"):
            print(f"{family}: {', '.join(unlearn.available(family))}")
        return ""
    setup = load_setup(args)
    method = unlearn.get_method(args.unlearn, unlearn.family(setup.data, setup.meta))
    hp = planned_hparams(args, setup.meta)
    stem = checkpoints.find_checkpoint(args.model_id, args.model_dir).stem
    variant = hp.get("variant")
    label = args.unlearn if variant in (None, "kurmanji") else f"{args.unlearn}_{variant}"  # SCRUB_corrective
    out_id = unlearn.unlearned_id(stem, setup.forget.label(hp), label, args.mask_thresh, hp["epochs"], hp["lr"])
    out_path = checkpoints.checkpoint_path(out_id, args.model_dir)
    refuse_existing([out_path], args.overwrite)
    mask = None
    if method.masked:
        mask = (masks.load_mask(Path(args.mask_path), setup.model) if args.mask_path else
                masks.load_saliency_mask(stem, args.mask_thresh, setup.model, setup.forget.indices, args.mask_dir))
    print(f"{method.name} on {stem}: forgetting {unlearn.forget_sets.describe(setup.forget)}")
    model, meta = unlearn_model(setup, args, mask, out_id)
    checkpoints.save_checkpoint(out_path, model, meta)
    print(f"Unlearn time: {meta['unlearn']['unlearn_time_s']:.2f} seconds")
    print(f"saved {out_path}")
    print(out_id)
    return out_id


if __name__ == "__main__":
    run_cli(main)
