"""Train a model: model_weights/{id}_best.pt (best validation accuracy, or PSNR for reconstruction; the last epoch
or round when there is no val split, never selected on test) and {id}_last.pt, logs in runs/{id}/.
--train_groups NAME:DIR,... trains an MRI reconstruction network;
--federated fedavg|mrcm --sites B:DIR,F:DIR,... trains one across sites (FL-MR / FL-MRCM, torchrun: a site a process)."""
from arg_parser import build_parser, task_of
from utils.errors import UserError, run_cli


def main(argv=None) -> dict:
    args = build_parser("data", "model", "training", "system", "output", "fl_mrcm_train",
                        description=__doc__).parse_args(argv)
    if args.mri_aug and (args.federated or task_of(args) != "reconstruction"):
        raise UserError("--mri_aug augments reconstruction training of one model (--train_groups); drop it for "
                        f"{'federated' if args.federated else 'classification'} training")
    if args.federated:
        from engine.federated_training import train_federated
        summary = train_federated(args)
        if summary:
            print(best_line(summary, "target PSNR", "round"))
    elif task_of(args) == "reconstruction":
        from engine.recon_training import train_recon
        summary = train_recon(args)
        print(best_line(summary, "val PSNR", "epoch"))
    else:
        from engine.training import train_model
        summary = train_model(args)
        if summary and summary["best_val_acc"] is None:
            print(f"no val split to select on: the best checkpoint is the last epoch ({summary['best_epoch']}); "
                  f"its test accuracy {summary['test_acc']:.2f}%")
        elif summary:
            print(f"best val accuracy {summary['best_val_acc']:.2f}% (epoch {summary['best_epoch']}); "
                  f"test accuracy of the best model {summary['test_acc']:.2f}%")
    if summary:
        print(f"saved {summary['best']} and {summary['last']}; log and curves in {summary['run_dir']}/")
    return summary


def best_line(summary: dict, metric: str, step: str) -> str:
    """How the _best checkpoint of a reconstruction run was chosen: its val PSNR, or the last step without val."""
    if summary["best_val_psnr"] is None:
        return f"no val split to select on: the best checkpoint is the last {step} ({summary['best_epoch']})"
    return f"best {metric} {summary['best_val_psnr']} dB ({step} {summary['best_epoch']})"


if __name__ == "__main__":
    run_cli(main)
