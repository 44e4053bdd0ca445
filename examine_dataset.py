"""Examine a dataset: samples per class in each split, and a labelled grid of samples (keys choose a class);
for MRI groups (--train_groups / --sites): volumes and slices per group and split, and zero-filled inputs beside
their targets."""
from arg_parser import build_parser
from utils.errors import run_cli


def main(argv=None) -> dict:
    args = build_parser("data", "evaluation", "system", "output", description=__doc__).parse_args(argv)
    from unlearn.families import family_for_flags  # after parsing: --help and flag errors answer without torch

    return family_for_flags(args).examine(args)


if __name__ == "__main__":
    run_cli(main)
