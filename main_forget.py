"""Unlearn with the SalUn repository's flags (--model_path, --save_dir, --class_to_replace, --mask_path ...):
writes {save_dir}/{unlearn}checkpoint.pt and {save_dir}/eval_result.json."""
from pathlib import Path

from arg_parser import build_parser
from utils.errors import UserError, run_cli


def main(argv=None) -> dict:
    args = build_parser("data", "model", "unlearning", "evaluation", "system", "output",
                        description=__doc__).parse_args(argv)
    from engine.family import family_from_meta
    from unlearn import get_method, masks  # after parsing: --help answers without importing torch
    from unlearn.families import family_for_flags
    from unlearn.workflow import check_outputs, planned_hparams, refuse_flags, unlearn_model
    from utils import checkpoints
    from utils.results import save_record

    if not args.save_dir:
        raise UserError("--save_dir is required: the folder for {unlearn}checkpoint.pt and eval_result.json")
    checkpoint = Path(args.save_dir) / f"{args.unlearn}checkpoint.pt"
    result_file = Path(args.save_dir) / "eval_result.json"
    refuse_flags(args, {
        "json": f"is not read here: main_forget.py writes its results to {result_file}; drop it",
        "save_fig": "is main_test_unlearn.py's (its figure); main_forget.py draws no figure: drop it",
        "retrain_model_id": "is main_test_unlearn.py's (the retrained model to compare with); main_forget.py does not "
                            "read it: drop it here and pass it to main_test_unlearn.py",
        "pretrained": "is main_train.py's (start training from a checkpoint's weights); main_forget.py unlearns "
                      "--model_path: drop it"})
    check_outputs([checkpoint, result_file], args.overwrite, "--save_dir")
    family = family_for_flags(args)
    setup = family.load_setup(args)
    method = get_method(args.unlearn, setup.family)
    planned_hparams(args, setup.meta)  # refuses a flag the method does not take, before any work
    mask = None
    if method.masked:
        if not args.mask_path:
            raise UserError(f"{method.name} needs --mask_path (a with_{{t}}.pt written by generate_mask.py)")
        mask = masks.load_mask(Path(args.mask_path), setup.model)
    model, meta = unlearn_model(setup, args, mask, checkpoint.stem)
    report, line = family.forget_report(setup, model, meta, args)
    checkpoints.save_checkpoint(checkpoint, model, meta)
    save_record(result_file, report, meta, family_from_meta(meta))
    print(line)
    print(f"saved {checkpoint} and {result_file}")
    return report


if __name__ == "__main__":
    run_cli(main)
