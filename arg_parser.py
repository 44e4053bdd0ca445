"""Every command-line flag, defined once, in groups; each script builds its parser from the groups it needs.

Importing this module (and building a parser, and printing --help) imports neither torch nor the library, so every
script parses its flags first and `--help` answers at once."""
import argparse
import ast
import functools
import importlib.util
import sys
from pathlib import Path

from engine.defaults import ARCHS, default_arch  # noqa: F401  (re-exported)
from engine.family import (CLASSIFICATION, FAMILIES, FAMILY_DEFAULTS, METHOD_TAKES_RECIPE_FLAGS, family_from_flags,
                           misplaced_flag)
from utils import cli
from utils.cli import (momentum_float, non_negative_float, non_negative_int,  # noqa: F401  (flag types, re-exported)
                       positive_float, positive_int, probability, seed_int)
from utils.errors import UserError

UNLEARN_DIR = Path(__file__).resolve().parent / "unlearn"
PARENT = "the original's"  # a method knob taken from the original model's training flags
PARENT_KNOBS = ("epochs", "lr", "optimizer", "batch_size")  # what from_parent=True takes (unlearn.resolve_hparams)


def _show(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _family_defaults(key: str) -> str:
    """'default: classification 50, reconstruction 8, federated 8' for a flag whose default depends on the family."""
    return "default: " + ", ".join(f"{name} {_show(defaults[key])}" for name, defaults in FAMILY_DEFAULTS.items())


@functools.cache
def declared_knobs() -> dict:
    """unlearn/knobs.py's KNOBS (knob -> Knob(flag, kind, help, choices)), read without importing the package (torch)."""
    spec = importlib.util.spec_from_file_location("unlearn_knobs", UNLEARN_DIR / "knobs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.KNOBS


@functools.cache
def method_defaults() -> tuple[dict[str, dict[str, dict]], dict[str, str]]:
    """({family: {method: knob defaults}}, {knob: flag}) read from unlearn/'s source without importing it (torch):
    every @register(...) line, completed as unlearn.resolve_hparams completes it; federated methods take batch and
    optimiser from the original federation's recipe."""
    init = ast.parse((UNLEARN_DIR / "__init__.py").read_text())
    names = {t.id: n.value for n in init.body if isinstance(n, ast.Assign)
             for t in n.targets if isinstance(t, ast.Name)}
    resolve = next(n for n in init.body if isinstance(n, ast.FunctionDef) and n.name == "resolve_hparams")
    hp = next(n.value for n in ast.walk(resolve) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Dict))
    base = {ast.literal_eval(k): ast.literal_eval(names[v.id] if isinstance(v, ast.Name) else v)
            for k, v in zip(hp.keys, hp.values) if k is not None}
    table: dict[str, dict[str, dict]] = {name: {} for name in FAMILIES}
    for path in sorted(UNLEARN_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register" and node.args):
                continue
            knobs = {k.arg: k.value for k in node.keywords if k.arg not in ("salun", "variants", "search")}
            families = ast.literal_eval(knobs.pop("task")) if "task" in knobs else CLASSIFICATION
            for family in (families,) if isinstance(families, str) else families:
                defaults = {**(base if METHOD_TAKES_RECIPE_FLAGS[family] else dict.fromkeys(base, PARENT)),
                            **{k: ast.literal_eval(v) for k, v in knobs.items()}}
                if defaults.pop("from_parent", False):
                    defaults.update(dict.fromkeys(PARENT_KNOBS, PARENT))
                table[family][ast.literal_eval(node.args[0])] = {k: PARENT if v == "parent" else v
                                                                 for k, v in defaults.items()}
    return table, {key: knob.flag for key, knob in declared_knobs().items()}


def _spread(values: dict[str, object]) -> str:
    """'5 (BadT 10, SPKD 3)': the value most of three or more methods take and the others', else each method's."""
    groups: dict[str, list[str]] = {}
    for name in sorted(values, key=str.lower):
        groups.setdefault(_show(values[name]), []).append(name)
    listed = {value: f"{'/'.join(names)} {value}" for value, names in groups.items()}
    common = max(groups, key=lambda value: len(groups[value]))
    if len(values) >= 3 and 2 * len(groups[common]) > len(values):
        others = ", ".join(text for value, text in listed.items() if value != common)
        return f"{common} ({others})" if others else common
    return ", ".join(listed.values())


def method_defaults_help() -> dict[str, str]:
    """flag -> 'default by method: classification 5 (BadT 10, ...); reconstruction 3 (...)' for each method knob."""
    table, flags = method_defaults()
    texts = {}
    for knob, flag in flags.items():
        parts = [f"{family} {_spread(values)}" for family, methods in table.items()
                 if (values := {name: d[knob] for name, d in methods.items() if knob in d})]
        if parts:
            texts[flag] = "default by method: " + "; ".join(parts)
    return texts


class Refuse(argparse.Action):
    """A reference repository's flag we do not take (or take only with the value `accept`): parsing it is an error
    that names our equivalent."""

    def __init__(self, option_strings: list[str], dest: str, refusal: str, accept: str | None = None, **kwargs) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.refusal, self.accept = refusal, accept

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if self.accept is None or values != self.accept:
            raise argparse.ArgumentError(self, self.refusal)
        setattr(namespace, self.dest, values)


class Alias(argparse.Action):
    """A reference repository's flag that sets our flags `targets` to its value."""

    def __init__(self, option_strings: list[str], dest: str, targets: tuple[str, ...], **kwargs) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.targets = targets

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        for target in self.targets:
            setattr(namespace, target, values)


class Parser(cli.Parser):
    """utils.cli's parser (one-line errors, flags spelled out) filling task-dependent defaults; its help gives the
    unlearning methods' own defaults, read from unlearn/ when help is asked for."""

    always_writes_record = False  # a script that writes its evaluation record with or without --json (main_audit.py)

    def format_help(self) -> str:
        texts = method_defaults_help()
        for action in self._actions:
            if action.dest in texts and texts[action.dest] not in (action.help or ""):
                action.help = f"{action.help}; {texts[action.dest]}" if action.help else texts[action.dest]
        return super().format_help()

    def parse_known_args(self, args=None, namespace=None):
        parsed, rest = super().parse_known_args(args, namespace)
        tokens = sys.argv[1:] if args is None else list(args)
        # the flags spelled out on the command line (`--resume` tells them from defaults); not a plain type, so it is
        # not recorded among a checkpoint's flags
        parsed.given = frozenset(self._option_string_actions[t.split("=")[0]].dest for t in tokens
                                 if t.startswith("-") and t.split("=")[0] in self._option_string_actions)
        for key, value in FAMILY_DEFAULTS[family_from_flags(parsed)].items():
            if getattr(parsed, key, value) is None:
                setattr(parsed, key, value)
        misplaced = misplaced_flag(parsed)
        if misplaced:
            raise UserError(misplaced)
        labels = sorted({"label", "tag"} & parsed.given)
        if labels and not getattr(parsed, "json", None) and not self.always_writes_record:
            raise UserError(f"--{labels[0]} goes into the --json record, and without --json nothing is written: add "
                            f"--json FILE")
        from utils.paths import check_figure_format, check_new_file  # no torch
        for flag in ("json", "save_fig"):
            if getattr(parsed, flag, None):
                check_new_file(getattr(parsed, flag), getattr(parsed, "overwrite", False), f"--{flag}")
        if getattr(parsed, "save_fig", None):
            check_figure_format(parsed.save_fig, "--save_fig")
        return parsed, rest


def _data(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--dataset", default="Digits",
                   help="MedMNIST flag (BloodMNIST, chestmnist, ...), Digits, a path to a MedMNIST-layout .npz, "
                        "or imagefolder:PATH (one sub-folder of images per class)")
    p.add_argument("--data_dir", default="./data", help="folder holding {flag}.npz / {flag}_{size}.npz")
    p.add_argument("--size", type=int, default=28, choices=[28, 64, 128, 224], help="image size (MedMNIST+ sizes)")
    p.add_argument("--download", action="store_true", help="fetch a missing MedMNIST file with the medmnist package")
    p.add_argument("--batch_size", type=positive_int, default=None, help=_family_defaults("batch_size"))
    p.add_argument("--num_workers", type=non_negative_int, default=0,
                   help="DataLoader workers reading MRI slices (in-memory classification data needs none)")
    p.add_argument("--no_aug", action="store_true", help="no random crop / flip during training")
    p.add_argument("--mri_aug", action="store_true",
                   help="U-Net reconstruction: train on each slice in a random orientation (flips, transpose), its "
                        "k-space measured anew, as MRAugment; off by default, as in fastMRI. Unlearning and the "
                        "retrained model follow the original's setting")
    p.add_argument("--mri_aug_affine", type=probability, default=0.0, metavar="P",
                   help="U-Net reconstruction: also rotate (any angle), zoom (±25 %%) and move (±8 %% of the rows, "
                        "±12.5 %% of the columns) each training slice, each with probability P, as MRAugment's "
                        "affine augmentation; 0 (off) by default, as in fastMRI. Unlearning follows the original's "
                        "setting")
    p.add_argument("--train_groups", default=None, metavar="NAME:DIR[,NAME:DIR]",
                   help="reconstruction: named groups (organs, sites) of fastMRI-style .h5 volumes, each DIR holding "
                        "train/ val/ test/ (or T1/ T2/ with --sequence); e.g. brain:data/brain,knee:data/knee")
    p.add_argument("--sites", default=None, metavar="L:DIR[,L:DIR]",
                   help="federated reconstruction: one site (hospital) per letter, e.g. B:data/brats,F:data/fastmri; "
                        "each DIR in the FL-MRCM layout T1/ T2/ (with --sequence) or train/ val/ test/")
    p.add_argument("--sequence", choices=["T1", "T2"], default=None, help="FL-MRCM layout: DIR/{T1,T2}/{train,val,test}")
    p.add_argument("--challenge", choices=["singlecoil", "multicoil"], default=None,
                   help="reconstruction: the k-space the files must hold (default: what the files hold)")
    p.add_argument("--sample_rate", type=positive_float, default=1.0, help="use this share of each group's volumes")
    p.add_argument("--resolution", type=positive_int, default=None, help="centre-crop images to at most this size")
    p.add_argument("--mask_type", choices=["random", "equispaced", "equispaced_fraction", "magic", "magic_fraction"],
                   default="random",
                   help="k-space under-sampling with fastMRI's mask functions and seeds: random columns; equispaced: "
                        "every acceleration-th column plus the centre (more than 1/acceleration); equispaced_fraction: "
                        "spaced to keep 1/acceleration in all; magic, magic_fraction: offset-sampled halves (Defazio)")
    p.add_argument("--accelerations", type=positive_float, nargs="+", default=[4.0], help="e.g. 4 8")
    p.add_argument("--center_fractions", "--center-fractions", dest="center_fractions", type=positive_float, nargs="+",
                   default=[0.08], help="centre share of k-space columns, one per acceleration, e.g. 0.08 0.04")
    p.add_argument("--cache_mb", type=non_negative_float, default=1024,
                   help="reconstruction: hold a split in memory when its volumes take at most this many MB")


def _model(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--arch", default=None,
                   help=f"classification: {', '.join(ARCHS['classification'])} or any torchvision classifier by name "
                        f"(default {default_arch('classification')}); reconstruction: "
                        f"{', '.join(ARCHS['reconstruction'])} (default {default_arch('reconstruction')})")
    p.add_argument("--imagenet_arch", action="store_true", help="ResNets: torchvision's 7x7 stride-2 stem with max-pool")
    p.add_argument("--pretrained", default=None, metavar="PATH", help="start from the weights of this checkpoint")
    p.add_argument("--model_id", "--model_path", dest="model_id", default=None,
                   help="checkpoint id in --model_dir (e.g. my_model_best) or a .pt path")
    p.add_argument("--chans", type=positive_int, default=None, help="U-Net channels (32) / VarNet cascade channels (18)")
    p.add_argument("--num_pool_layers", type=positive_int, default=4, help="U-Net / VarNet pooling layers")
    p.add_argument("--num_cascades", type=positive_int, default=12, help="VarNet cascades")
    p.add_argument("--sens_chans", type=positive_int, default=8, help="VarNet sensitivity-map U-Net channels")
    p.add_argument("--sens_pools", type=positive_int, default=4, help="VarNet sensitivity-map U-Net pooling layers")


def _training(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--save_model_id", default=None, help="id of the model to train: model_weights/{id}_best.pt, _last.pt")
    p.add_argument("--epochs", type=positive_int, default=50, help="epochs (federated: communication rounds)")
    p.add_argument("--lr", type=positive_float, default=None, help=_family_defaults("lr"))
    p.add_argument("--optimizer", choices=["sgd", "adam", "rmsprop"], default=None, help=_family_defaults("optimizer"))
    p.add_argument("--momentum", type=momentum_float, default=0.9, help="SGD momentum, in [0, 1)")
    p.add_argument("--weight_decay", type=non_negative_float, default=None, help=_family_defaults("weight_decay"))
    p.add_argument("--loss", choices=["l1", "l2", "ssim", "ssim_l1"], default="l1",
                   help="reconstruction loss; l2 = mean squared error (what PSNR measures); ssim_l1 = SSIM + 1e-5·L1 "
                        "(Erase to Enhance, the MRI unlearning paper)")
    p.add_argument("--federated", choices=["fedavg", "mrcm"], default=None,
                   help="train across --sites: FL-MR (FedAvg) or FL-MRCM (+ latent alignment to --test_dataset); "
                        "--epochs counts communication rounds")
    p.add_argument("--train_dataset", default=None, metavar="LETTERS",
                   help="federated: the sites that train, e.g. BFHI (default: every site of --sites)")
    p.add_argument("--test_dataset", default=None, metavar="LETTER",
                   help="federated: the target site, validated every round (FL-MRCM aligns to it)")
    p.add_argument("--num_users", type=positive_int, default=None, help="federated: number of training sites (a check)")
    p.add_argument("--local_ep", type=positive_int, default=1, help="federated: local epochs per round")
    p.add_argument("--local_bs", type=positive_int, default=None, help="federated: local batch size (default --batch_size)")
    p.add_argument("--fedavg_weights", choices=["equal", "size"], default="equal",
                   help="FedAvg: unweighted mean (the reference) or weighted by each site's train slices")
    p.add_argument("--lr_step", type=positive_int, default=40, help="federated: local lr × 0.1 every this many rounds")
    p.add_argument("--adv_weight", type=non_negative_float, default=1.0, help="FL-MRCM: weight of the adversarial term")
    p.add_argument("--unlearn_interval", type=non_negative_int, default=0,
                   help="federated: store the global model and every site's update every N rounds (FedEraser needs "
                        "them; 0 = store none)")
    p.add_argument("--continues", action="store_true", help="federated: resume {save_model_id}_last.pt (as --resume)")
    p.add_argument("--scheduler", choices=["cosine", "step", "none"], default="cosine",
                   help="per-step learning-rate schedule; step = x0.1 at 50%% and 75%% of the epochs")
    p.add_argument("--warmup_epochs", type=non_negative_int, default=0)
    p.add_argument("--memory_format", choices=["channels_last", "contiguous"], default=None,
                   help="the model's memory order while it trains (channels_last: convolutions in NHWC; "
                        "bench/bench_train_step.py); " + _family_defaults("memory_format"))
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the model for training (compiling takes 1-2 minutes: for long runs)")
    p.add_argument("--resume", action="store_true", help="continue {save_model_id}_last.pt up to --epochs")
    p.add_argument("--val_every", type=positive_int, default=1, help="validate every N epochs (and after the last)")
    p.add_argument("--dataset_method", default=None,
                   choices=["poisoning", "interclasslabelswap", "labeltargeted", "randomlabelswap"],
                   help="manipulate --forget_set_size training samples (corrective unlearning, Goel et al. 2024)")
    p.add_argument("--forget_set_size", type=positive_int, default=None, help="how many training samples to manipulate")
    p.add_argument("--patch_size", type=positive_int, default=3, help="poisoning: p×p trigger at the bottom-right")
    p.add_argument("--poison_target", type=int, default=0, help="poisoning: the label poisoned samples get")
    p.add_argument("--confused_classes", default=None,
                   help="interclass swap: the two classes, e.g. 3,5 (default 3,5, or 0,1 with fewer than 6 classes)")


def _unlearning(p: argparse._ArgumentGroup) -> None:
    def mask_share(text: str) -> float:
        """--mask_thresh: the share of weights a SalUn mask lets move, in (0, 1]."""
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value <= 1:
            raise argparse.ArgumentTypeError(f"must be a share in (0, 1] such as 0.5 (generate_mask.py writes 0.1, "
                                             f"0.2, ..., 1.0), got {text}")
        return value

    p.add_argument("--unlearn", default="RL_with_SalUn",
                   help="unlearning method id (main_unlearn.py --list); the default is a classification method: "
                        "reconstruction and federated runs name theirs")
    p.add_argument("--class_to_forget", "--class_to_replace", dest="class_to_forget", default=None,
                   help="class(es) to forget: 3 or 3,5 (-1 = none: random forgetting)")
    p.add_argument("--num_indexes_to_replace", default=None,
                   help="forget this many random train samples (of --class_to_forget if given), or this fraction (0.1)")
    p.add_argument("--indexes_to_replace", default=None, metavar="FILE", help="file of train-split row indices, one a line")
    p.add_argument("--deletion_size", type=positive_int, default=None,
                   help="corrective: the unlearner knows only this many of the manipulated samples (default: all)")
    p.add_argument("--mask_thresh", type=mask_share, default=0.5,
                   help="SalUn mask (the _with_SalUn methods): let the top share of salient weights move, in (0, 1]")
    p.add_argument("--mask_path", default=None,
                   help="_with_SalUn methods: a mask file instead of SaliencyMaps/{model_id}/with_{t}.pt")
    p.add_argument("--mask_dir", default="SaliencyMaps", help="where generate_mask.py writes and main_unlearn.py reads masks")
    for knob in declared_knobs().values():  # every method knob, as unlearn/knobs.py declares it
        p.add_argument(f"--{knob.flag}", type=knob.type, default=None, choices=knob.choices, help=knob.help or None)
    p.add_argument("--forget_group", default=None, help="reconstruction: the group of --train_groups to forget (knee)")
    p.add_argument("--forget_site", default=None, help="federated: the site (letter) that leaves the federation")
    p.add_argument("--retrain_model_id", default=None, help="model retrained without the forget set, to compare with")
    p.add_argument("--save_dir", default=None,
                   help="SalUn's output folder: main_forget.py writes {unlearn}checkpoint.pt and eval_result.json there, "
                        "generate_mask.py its with_{t}.pt masks (instead of --mask_dir/{model_id}/)")


def _system(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--seed", type=seed_int, default=1, help="seed of every random choice (data order, masks, weights)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CUDA when there is one")
    p.add_argument("--amp", action="store_true", help="bf16/fp16 mixed precision (CUDA only; ignored on CPU)")


def _evaluation(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--split", choices=["train", "val", "test"], default="test", help="split to evaluate")
    p.add_argument("--no_gui", action="store_true", help="do not open a window")
    p.add_argument("--other_dataset", action="store_true",
                   help="classification: test a model on a dataset other than the one it was trained on (an external "
                        "test set of the same classes, channels and image size); refused without this flag")


def _transfer(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--knn_dataset", default=None, metavar="NAME_OR_PATH",
                   help="downstream dataset (Digits, a .npz, imagefolder:PATH; read from --data_dir) for k=5 cosine "
                        "kNN accuracy on the model's frozen pooled features")
    p.add_argument("--cka_with", default=None, metavar="MODEL_ID",
                   help="model to compare pooled test-split features with by linear CKA (e.g. the retrained model)")


def _submission(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--submission_dir", default=None, metavar="DIR",
                   help="reconstruction: instead of metrics, write fastMRI's submission files DIR/<file name>.h5 (a "
                        "float32 'reconstruction', slices×H×W, 320×320 for the challenges) for every volume of --split; "
                        "reads test and challenge files (no target, a stored mask); --overwrite replaces files")


def _fl_mrcm(p: argparse._ArgumentGroup, phase: str) -> None:
    """guopengf/FL-MRCM's flags (utils/options.py) that main_fl_mrcm.py (phase train) or main_test.py (phase test)
    reads: mapped onto ours where the meaning carries over, else refused with our equivalent."""
    other = {"train": "test with main_test.py --model_id ID, which evaluates --split test by default",
             "test": "train with main_train.py --federated fedavg|mrcm --sites L:DIR,..."}
    p.add_argument("--phase", choices=["train", "test"], default=None, action=Refuse, accept=phase,
                   refusal=f"FL-MRCM's train/test switch; this script is its {phase} phase: {other[phase]}",
                   help=f"FL-MRCM's train/test switch: only {phase} here ({other[phase]})")
    p.add_argument("--val_sample_rate", type=positive_float, default=None, action=Refuse,
                   refusal="FL-MRCM's share of the target site's val volumes; here --sample_rate R takes a seeded "
                           "share R of every split of every site",
                   help="FL-MRCM's share of the target's val volumes: refused, use --sample_rate (every split)")
    if phase == "train":
        p.add_argument("--save_dir", default=None, metavar="DIR", action=Alias, targets=("model_dir", "runs_dir"),
                       help="FL-MRCM's output folder: the same as --model_dir DIR --runs_dir DIR")
        p.add_argument("--checkpoint", default=None, action=Refuse,
                       refusal="FL-MRCM's {round}_net.pth to continue from with --continues; here --continues "
                               "continues {save_model_id}_last.pt in --model_dir",
                       help="FL-MRCM's checkpoint to continue from: refused, use --continues with --save_model_id")
    else:
        p.add_argument("--save_dir", default=None, metavar="DIR", action=Alias, targets=("runs_dir",),
                       help="FL-MRCM's output folder: the same as --runs_dir DIR")
        p.add_argument("--test_dataset", default=None, action=Refuse,
                       refusal="FL-MRCM's site to test; here main_test.py tests every site of --sites: name only that "
                               "one, e.g. --sites F:DIR",
                       help="FL-MRCM's site to test: refused, name only that site in --sites")
        p.add_argument("--checkpoint", default=None, metavar="PATH", action=Alias, targets=("model_id",),
                       help="FL-MRCM's checkpoint to test: the same as --model_id PATH")
    p.add_argument("--verbose", action="store_true",
                   help="FL-MRCM's verbose print: accepted; progress bars always show how far a run is and its "
                        "running loss")


def _output(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--model_dir", default="model_weights", help="where checkpoints are written and read")
    p.add_argument("--runs_dir", default="runs", help="where logs and figures go: {runs_dir}/{id}/")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--json", default=None, metavar="FILE", help="write the results as JSON")
    p.add_argument("--save_fig", default=None, metavar="FILE", help="save the sample figure to this PNG")


def tag(text: str) -> tuple[str, int | float | str]:
    """KEY=VALUE, the value read as a number where it is one."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. share=30)")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def _record(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--label", default=None, help="the row name of this evaluation in tables (default: the method id, "
                   "or 'original' for a model that forgot nothing)")
    p.add_argument("--tag", type=tag, action="append", default=[], metavar="KEY=VALUE",
                   help="a value the --json record carries for the reporters (repeatable), e.g. --tag share=30")


def _tune(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--trials", type=positive_int, default=30,
                   help="complete trials the study should hold, whichever workers run them")
    p.add_argument("--study", default=None, help="study name (default {model}_{method}_{forget set}); workers that "
                                                 "name the same study and --storage share it")
    p.add_argument("--storage", default=None,
                   help="where studies live: an SQLAlchemy URL (sqlite:///FILE, postgresql://..., mysql://...) or "
                        "journal:FILE (an Optuna journal on a shared disk); default sqlite in {runs_dir}/tune/")
    p.add_argument("--objective", default="avg_gap",
                   help="what each trial minimises: avg_gap, time or rte (time / retrain time); two, comma-"
                        "separated (avg_gap,time), give a Pareto front")
    p.add_argument("--tune_seed", type=non_negative_int, default=0, help="the sampler's seed (TPE)")
    p.add_argument("--validation_sets", type=positive_int, default=2,
                   help="validation forget sets a trial is scored on (the mean gap): other classes, or other random "
                        "subsets, never yours")
    p.add_argument("--trial_seeds", type=positive_int, default=1,
                   help="seeds each trial runs on every validation set (--seed, --seed+1, ...; the mean gap): more "
                        "picks settings that hold across seeds, at that many times the cost")
    p.add_argument("--no_prune", dest="prune", action="store_false",
                   help="run every trial to its end (by default a trial whose gap after an epoch is worse than the "
                        "median of earlier trials' at that epoch stops there; --objective avg_gap only)")
    p.add_argument("--final_seeds", type=non_negative_int, default=3,
                   help="runs of the best setting on your forget set (seeds --seed, --seed+1, ...); 0 for none")


def _audit(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--shadows", type=int, default=16,
                   help="shadow models, each trained on a seeded random half of the train split, unlearned and "
                        "retrained (at least 4; the AUC's noise shrinks as 1/sqrt(shadows x targets))")
    p.add_argument("--attack", default="all",
                   help="ulira, challenge, population (comma-separated), or all: per-example U-LiRA, the NeurIPS 2023 "
                        "challenge's per-example epsilon and forget score, the SVC MIA-efficacy")
    p.add_argument("--shadow_dir", default=None, metavar="DIR",
                   help="the shadow cache (default {runs_dir}/audit/shadows/{dataset}_{arch}_{recipe hash}); its "
                        "recipe.json must match the original's recipe")
    p.add_argument("--shadow_seed", type=non_negative_int, default=0, help="seed of the shadows' random halves")


GROUPS = {
    "data": _data,
    "model": _model,
    "training": _training,
    "unlearning": _unlearning,
    "system": _system,
    "evaluation": _evaluation,
    "transfer": _transfer,
    "submission": _submission,
    "output": _output,
    "record": _record,
    "tune": _tune,
    "audit": _audit,
    "fl_mrcm_train": functools.partial(_fl_mrcm, phase="train"),
    "fl_mrcm_test": functools.partial(_fl_mrcm, phase="test"),
}
GROUP_TITLES = {"record": "evaluation record (--json)", "tune": "hyper-parameter search (Optuna)", "audit": "privacy audit (shadow models)", "fl_mrcm_train": "FL-MRCM's flags (train phase)", "fl_mrcm_test": "FL-MRCM's flags (test phase)"}


def build_parser(*groups: str, description: str | None = None) -> Parser:
    """A parser holding the flags of the named groups."""
    parser = Parser(description=description)
    parser.always_writes_record = "audit" in groups  # audit.json
    for name in groups:
        GROUPS[name](parser.add_argument_group(GROUP_TITLES.get(name, name)))
    return parser
