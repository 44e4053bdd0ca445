"""Train a model: model_weights/{id}_best.pt (best validation accuracy, or PSNR for reconstruction; the last epoch
or round when there is no val split, never selected on test) and {id}_last.pt, logs in runs/{id}/.
--train_groups NAME:DIR,... trains an MRI reconstruction network;
--federated fedavg|mrcm --sites B:DIR,F:DIR,... trains one across sites (FL-MR / FL-MRCM, torchrun: a site a process)."""
from arg_parser import build_parser
from utils.errors import run_cli


def main(argv=None) -> dict:
    args = build_parser("data", "model", "training", "system", "output", "fl_mrcm_train",
                        description=__doc__).parse_args(argv)
    from unlearn.families import family_for_flags  # after parsing: --help and flag errors answer without torch
    from unlearn.workflow import refuse_flags

    refuse_flags(args, {"json": "is for the evaluation scripts (main_test.py --json writes a model's record); "
                                "main_train.py logs every epoch in {runs_dir}/{id}/log.csv: drop it",
                        "save_fig": "is for the evaluation scripts (main_test.py --save_fig saves the sample figure); "
                                    "main_train.py draws its curves in {runs_dir}/{id}/curves.png: drop it"})
    family = family_for_flags(args)
    family.check_training_flags(args)
    summary = family.train(args)
    if summary:  # empty on the other processes of a torchrun
        for line in family.training_lines(summary):
            print(line)
        print(f"saved {summary['best']} and {summary['last']}; log and curves in {summary['run_dir']}/")
    return summary


if __name__ == "__main__":
    run_cli(main)
