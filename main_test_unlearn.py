"""Evaluate an unlearned (or original) model: UA, RA, TA, MIA-efficacy, and with --retrain_model_id the gap
to a model retrained without the forget set, its Avg. Gap and the JS divergence on the forget set.
Reconstruction (--train_groups): PSNR / SSIM / NMSE per group, the gap to the retrained model, time / retrain."""
from arg_parser import build_parser
from utils.errors import run_cli


def main(argv=None) -> dict:
    parser = build_parser("data", "model", "unlearning", "evaluation", "transfer", "system", "output", "record",
                          description=__doc__)
    args = parser.parse_args(argv)
    from engine.family import family_from_meta  # after parsing: --help and flag errors answer without torch
    from unlearn.families import family_for_flags
    from unlearn.knobs import KNOBS
    from utils.errors import UserError
    from utils.results import save_record

    method_flags = {"unlearn", "mask_thresh", "mask_path", *(knob.flag for knob in KNOBS.values())}
    misplaced = sorted(method_flags & args.given)
    if misplaced:
        raise UserError(f"--{misplaced[0]} is main_unlearn.py's (the method and its knobs); main_test_unlearn.py "
                        f"evaluates --model_id as it was unlearned, read from its checkpoint: drop it")
    family = family_for_flags(args)
    setup = family.load_setup(args, forget_from_meta=True)
    report = family.unlearn_report(setup, args)
    if args.json:
        save_record(args.json, report, setup.meta, family_from_meta(setup.meta), args.label, dict(args.tag))
    return report


if __name__ == "__main__":
    run_cli(main)
