"""Unlearn a class or a subset from a trained model (the MedMNIST unlearning workflow, SalUn-style ids):
model_weights/{model_id}_FORGOTTEN_{c}_{METHOD}_mask{t}_unlearnEpochs{e}_unlearnlr{lr}.pt; --json FILE also writes the
run's record (method, knobs, forget set, time, output id). A flag the method does not take is an error."""
from pathlib import Path

from arg_parser import build_parser
from utils.errors import run_cli


def main(argv=None) -> str:
    parser = build_parser("data", "model", "unlearning", "system", "output", description=__doc__)
    parser.add_argument("--list", action="store_true", help="list the unlearning methods and exit")
    parser.add_argument("--hparams", default=None, metavar="FILE",
                        help="the knobs of a main_tune.py best.json (flags given here win)")
    args = parser.parse_args(argv)
    import unlearn  # after parsing: --help and flag errors answer without importing torch
    from unlearn import masks
    from unlearn.families import available_families, family_for_flags
    from unlearn.workflow import check_outputs, planned_hparams, refuse_flags, unlearn_model
    from utils import checkpoints
    from utils.io import save_json
    from utils.paths import run_lock

    if args.list:
        for family in available_families():
            print(f"{family}: {', '.join(unlearn.available(family))}")
        return ""
    refuse_flags(args, {
        "save_fig": "is main_test_unlearn.py's (its figure); main_unlearn.py draws no figure: drop it here and pass it "
                    "to main_test_unlearn.py",
        "retrain_model_id": "is main_test_unlearn.py's (the retrained model to compare with); main_unlearn.py does not "
                            "read it: drop it here and pass it to main_test_unlearn.py",
        "save_dir": "is main_forget.py's output folder (SalUn's spelling); main_unlearn.py writes {id}.pt into "
                    "--model_dir: pass --model_dir instead",
        "pretrained": "is main_train.py's (start training from a checkpoint's weights); main_unlearn.py unlearns "
                      "--model_id: drop it"})
    if args.hparams:
        from unlearn.tune import read_hparams
        for flag, value in read_hparams(args.hparams, args.unlearn).items():
            if flag not in args.given:
                setattr(args, flag, value)
    setup = family_for_flags(args).load_setup(args)
    method = unlearn.get_method(args.unlearn, setup.family)
    hp = planned_hparams(args, setup.meta)
    stem = checkpoints.find_checkpoint(args.model_id, args.model_dir).stem
    variant = hp.get("variant")
    label = args.unlearn if variant in (None, "kurmanji") else f"{args.unlearn}_{variant}"  # SCRUB_corrective
    out_id = unlearn.unlearned_id(stem, setup.forget.label(hp), label, args.mask_thresh, hp["epochs"], hp["lr"])
    out_path = checkpoints.checkpoint_path(out_id, args.model_dir)
    check_outputs([out_path], args.overwrite, "--model_dir")
    mask = None
    if method.masked:
        mask = (masks.load_mask(Path(args.mask_path), setup.model) if args.mask_path else
                masks.load_saliency_mask(stem, args.mask_thresh, setup.model, setup.forget.indices, args.mask_dir))
    print(f"{method.name} on {stem}: forgetting {unlearn.forget_sets.describe(setup.forget)}")
    with run_lock(args.model_dir, out_id):  # one run of an id at a time
        model, meta = unlearn_model(setup, args, mask, out_id)
        checkpoints.save_checkpoint(out_path, model, meta)
    print(f"Unlearn time: {meta['unlearn']['unlearn_time_s']:.2f} seconds")
    print(f"saved {out_path}")
    if args.json:
        forget = {k: v for k, v in meta["forget"].items() if k != "indices"}
        save_json({"model_id": out_id, "parent_id": meta["parent_id"], "checkpoint": str(out_path), **meta["unlearn"],
                   "forget": {"description": unlearn.forget_sets.describe(setup.forget), **forget}}, args.json)
        print(f"wrote {args.json}")
    print(out_id)
    return out_id


if __name__ == "__main__":
    run_cli(main)
