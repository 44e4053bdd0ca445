"""Train a classifier: model_weights/{id}_best.pt (best validation accuracy) and {id}_last.pt, logs in runs/{id}/."""
from arg_parser import build_parser
from utils.errors import run_cli
from utils.training import train_model


def main(argv=None) -> dict:
    args = build_parser("data", "model", "training", "system", "output", description=__doc__).parse_args(argv)
    summary = train_model(args)
    if summary:
        print(f"best val accuracy {summary['best_val_acc']:.2f}% (epoch {summary['best_epoch']}); "
              f"test accuracy of the best model {summary['test_acc']:.2f}%")
        print(f"saved {summary['best']} and {summary['last']}; log and curves in {summary['run_dir']}/")
    return summary


if __name__ == "__main__":
    run_cli(main)
