"""Train a model: model_weights/{id}_best.pt (best validation accuracy, or PSNR for reconstruction) and
{id}_last.pt, logs in runs/{id}/. --train_groups NAME:DIR,... trains an MRI reconstruction network;
--federated fedavg|mrcm --sites B:DIR,F:DIR,... trains one across sites (FL-MR / FL-MRCM, torchrun: a site a process)."""
from arg_parser import build_parser, task_of
from utils.errors import run_cli
from utils.federated_training import train_federated
from utils.recon_training import train_recon
from utils.training import train_model


def main(argv=None) -> dict:
    args = build_parser("data", "model", "training", "system", "output", description=__doc__).parse_args(argv)
    if args.federated:
        summary = train_federated(args)
        if summary:
            print(f"best target PSNR {summary['best_val_psnr']} dB (round {summary['best_epoch']})")
    elif task_of(args) == "reconstruction":
        summary = train_recon(args)
        print(f"best val PSNR {summary['best_val_psnr']} dB (epoch {summary['best_epoch']})")
    else:
        summary = train_model(args)
        if summary:
            print(f"best val accuracy {summary['best_val_acc']:.2f}% (epoch {summary['best_epoch']}); "
                  f"test accuracy of the best model {summary['test_acc']:.2f}%")
    if summary:
        print(f"saved {summary['best']} and {summary['last']}; log and curves in {summary['run_dir']}/")
    return summary


if __name__ == "__main__":
    run_cli(main)
