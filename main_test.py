"""Test a trained model: overall and class-wise accuracy and AUC, confusion matrix, and a sample viewer; for
reconstruction (--train_groups) NMSE / PSNR / SSIM per group, example reconstructions and a slice viewer, or with
--submission_dir fastMRI's submission files (also for test and challenge files, which have no target)."""
from arg_parser import build_parser
from utils.errors import run_cli


def main(argv=None) -> dict:
    args = build_parser("data", "model", "evaluation", "submission", "system", "output", "record", "fl_mrcm_test",
                        description=__doc__).parse_args(argv)
    from unlearn.families import family_for_flags  # after parsing: --help and flag errors answer without torch

    return family_for_flags(args).test(args)


if __name__ == "__main__":
    run_cli(main)
