"""SalUn weight saliency: masks keeping the top 10 %, 20 %, ..., 100 % of weights by |forget-set gradient|,
written to {mask_dir}/{model_id}/with_{t}.pt (SaliencyMaps/ by default), or with SalUn's --save_dir DIR to
DIR/with_{t}.pt itself (then main_forget.py --mask_path DIR/with_0.5.pt reads one)."""
from pathlib import Path

from arg_parser import build_parser
from utils.errors import run_cli


def main(argv=None) -> Path:
    args = build_parser("data", "model", "unlearning", "system", "output", description=__doc__).parse_args(argv)
    from unlearn import masks  # after parsing: --help and flag errors answer without importing torch
    from unlearn.families import family_for_flags
    from unlearn.workflow import check_outputs, refuse_flags
    from utils.checkpoints import find_checkpoint
    from utils.errors import UserError

    refuse_flags(args, {
        "mask_path": "names a mask to read (main_unlearn.py, main_forget.py); generate_mask.py writes masks: drop it, "
                     "and say where with --mask_dir or --save_dir",
        "json": "is not read here: generate_mask.py writes its masks and forget.json; drop it",
        "save_fig": "is main_test_unlearn.py's (its figure); generate_mask.py draws no figure: drop it",
        "retrain_model_id": "is main_test_unlearn.py's; generate_mask.py does not read it: drop it",
        "pretrained": "is main_train.py's; generate_mask.py computes the saliency of --model_id: drop it"})
    if "mask_thresh" in getattr(args, "given", ()):
        raise UserError("--mask_thresh picks one mask in main_unlearn.py; generate_mask.py writes every threshold "
                        "(with_0.1.pt ... with_1.0.pt): drop it here")
    if args.save_dir and "mask_dir" in getattr(args, "given", ()):
        raise UserError("--save_dir DIR (SalUn's spelling: masks in DIR itself) and --mask_dir DIR (masks in "
                        "DIR/{model_id}/) both say where the masks go; pass one")
    find_checkpoint(args.model_id, args.model_dir)  # a missing --model_id is named before the output checks
    folder = Path(args.save_dir) if args.save_dir else masks.mask_folder(args.model_id, args.mask_dir)
    check_outputs(masks.mask_outputs(folder), args.overwrite, "--save_dir" if args.save_dir else "--mask_dir")
    family = family_for_flags(args)
    setup = family.load_setup(args)
    saliency = family.saliency(setup, args)
    folder = masks.save_masks(masks.top_share_masks(saliency), folder, setup.forget.to_meta())
    total = sum(s.numel() for s in saliency.values())
    print(f"saliency of {total:,} weights from {len(setup.forget.indices)} forget samples (slices); "
          f"masks with_0.1.pt ... with_1.0.pt in {folder}/")
    return folder


if __name__ == "__main__":
    run_cli(main)
