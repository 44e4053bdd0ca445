"""Every command-line flag, defined once, in groups; each script builds its parser from the groups it needs."""
import argparse
import sys


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> None:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def _data(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--dataset", default="Digits",
                   help="MedMNIST flag (BloodMNIST, chestmnist, ...), Digits, a path to a MedMNIST-layout .npz, "
                        "or imagefolder:PATH (one sub-folder of images per class)")
    p.add_argument("--data_dir", default="./data", help="folder holding {flag}.npz / {flag}_{size}.npz")
    p.add_argument("--size", type=int, default=28, choices=[28, 64, 128, 224], help="image size (MedMNIST+ sizes)")
    p.add_argument("--download", action="store_true", help="fetch a missing MedMNIST file with the medmnist package")
    p.add_argument("--batch_size", type=positive_int, default=50)
    p.add_argument("--num_workers", type=non_negative_int, default=0,
                   help="accepted for compatibility; in-memory classification data needs no workers")
    p.add_argument("--no_aug", action="store_true", help="no random crop / flip during training")


def _model(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--arch", default=None, help="resnet18 (default), resnet34, resnet50, smallcnn, or any torchvision model")
    p.add_argument("--imagenet_arch", action="store_true", help="ResNets: torchvision's 7x7 stride-2 stem with max-pool")
    p.add_argument("--pretrained", default=None, metavar="PATH", help="start from the weights of this checkpoint")
    p.add_argument("--model_id", "--model_path", dest="model_id", default=None,
                   help="checkpoint id in --model_dir (e.g. my_model_best) or a .pt path")


def _training(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--save_model_id", default=None, help="id of the model to train: model_weights/{id}_best.pt, _last.pt")
    p.add_argument("--epochs", type=positive_int, default=50)
    p.add_argument("--lr", type=positive_float, default=0.01)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--momentum", type=non_negative_float, default=0.9)
    p.add_argument("--weight_decay", type=non_negative_float, default=5e-4)
    p.add_argument("--scheduler", choices=["cosine", "step", "none"], default="cosine",
                   help="per-step learning-rate schedule; step = x0.1 at 50%% and 75%% of the epochs")
    p.add_argument("--warmup_epochs", type=non_negative_int, default=0)
    p.add_argument("--resume", action="store_true", help="continue {save_model_id}_last.pt up to --epochs")
    p.add_argument("--val_every", type=positive_int, default=1, help="validate every N epochs (and after the last)")
    p.add_argument("--dataset_method", default=None,
                   choices=["poisoning", "interclasslabelswap", "labeltargeted", "randomlabelswap"],
                   help="manipulate --forget_set_size training samples (corrective unlearning, seed 003)")
    p.add_argument("--forget_set_size", type=positive_int, default=None, help="how many training samples to manipulate")
    p.add_argument("--patch_size", type=positive_int, default=3, help="poisoning: p×p trigger at the bottom-right")
    p.add_argument("--poison_target", type=int, default=0, help="poisoning: the label poisoned samples get")
    p.add_argument("--confused_classes", default=None,
                   help="interclass swap: the two classes, e.g. 3,5 (default 3,5, or 0,1 with fewer than 6 classes)")


def _unlearning(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--unlearn", default="RL_with_SalUn", help="unlearning method id (see main_unlearn.py --list)")
    p.add_argument("--class_to_forget", "--class_to_replace", dest="class_to_forget", default=None,
                   help="class(es) to forget: 3 or 3,5 (-1 = none: random forgetting)")
    p.add_argument("--num_indexes_to_replace", default=None,
                   help="forget this many random train samples (of --class_to_forget if given), or this fraction (0.1)")
    p.add_argument("--indexes_to_replace", default=None, metavar="FILE", help="file of train-split row indices, one a line")
    p.add_argument("--deletion_size", type=positive_int, default=None,
                   help="corrective: the unlearner knows only this many of the manipulated samples (default: all)")
    p.add_argument("--k", type=int, default=None, help="EU / CF: re-initialise / train only the last k layers (-1 = all)")
    p.add_argument("--mask_thresh", type=float, default=0.5, help="SalUn mask: keep the top share of salient weights")
    p.add_argument("--mask_path", default=None, help="a mask file instead of SaliencyMaps/{model_id}/with_{t}.pt")
    p.add_argument("--mask_dir", default="SaliencyMaps", help="where generate_mask.py writes and main_unlearn.py reads masks")
    p.add_argument("--unlearn_epochs", type=non_negative_int, default=None, help="default: the method's own")
    p.add_argument("--unlearn_lr", type=positive_float, default=None, help="default: the method's own")
    p.add_argument("--unlearn_batch_size", type=positive_int, default=None, help="default 100 (retrain: the original's)")
    p.add_argument("--unlearn_optimizer", choices=["sgd", "adam"], default=None, help="default sgd (retrain: the original's)")
    p.add_argument("--alpha", type=non_negative_float, default=None,
                   help="FT_prune l1 weight, wfisher step, SCRUB KL weight (method default if unset)")
    p.add_argument("--beta", type=non_negative_float, default=None, help="NegGrad+ weight of the forget loss")
    p.add_argument("--msteps", type=non_negative_int, default=None, help="SCRUB max-step epochs")
    p.add_argument("--kd_T", type=positive_float, default=None, help="distillation temperature (SCRUB, BadT)")
    p.add_argument("--SSDselectwt", type=positive_float, default=None, help="SSD selection weight alpha (10)")
    p.add_argument("--SSDdampening", type=positive_float, default=None, help="SSD dampening lambda (1)")
    p.add_argument("--spkd_ce_weight", type=non_negative_float, default=None, help="SPKD weight of CE on retain (10)")
    p.add_argument("--spkd_sp_weight", type=non_negative_float, default=None,
                   help="SPKD weight of similarity-preserving distillation on retain (10)")
    p.add_argument("--retrain_model_id", default=None, help="model retrained without the forget set, to compare with")
    p.add_argument("--save_dir", default=None, help="main_forget.py: folder for {unlearn}checkpoint.pt and eval_result.json")


def _system(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--amp", action="store_true", help="bf16/fp16 mixed precision (CUDA only; ignored on CPU)")


def _evaluation(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--split", choices=["train", "val", "test"], default="test", help="split to evaluate")
    p.add_argument("--no_gui", action="store_true", help="do not open a window")


def _transfer(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--knn_dataset", default=None, metavar="NAME_OR_PATH",
                   help="downstream dataset (Digits, a .npz, imagefolder:PATH; read from --data_dir) for k=5 cosine "
                        "kNN accuracy on the model's frozen pooled features")
    p.add_argument("--cka_with", default=None, metavar="MODEL_ID",
                   help="model to compare pooled test-split features with by linear CKA (e.g. the retrained model)")


def _output(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--model_dir", default="model_weights", help="where checkpoints are written and read")
    p.add_argument("--runs_dir", default="runs", help="where logs and figures go: {runs_dir}/{id}/")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--json", default=None, metavar="FILE", help="write the results as JSON")
    p.add_argument("--save_fig", default=None, metavar="FILE", help="save the sample figure to this PNG")


GROUPS = {
    "data": _data,
    "model": _model,
    "training": _training,
    "unlearning": _unlearning,
    "system": _system,
    "evaluation": _evaluation,
    "transfer": _transfer,
    "output": _output,
}


def build_parser(*groups: str, description: str | None = None) -> Parser:
    """A parser holding the flags of the named groups."""
    parser = Parser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for name in groups:
        GROUPS[name](parser.add_argument_group(name))
    return parser
