"""Training from the flags of main_train.py: the run's outputs and lock, the epoch loop every family's training
shares (fit) with its checkpoint selection, and a classifier's training."""
import argparse
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn
from tqdm import tqdm

import datasets
import models
from datasets import manipulate
from datasets.batching import BatchLoader
from utils import checkpoints, distributed, metrics, plots
from utils.device import amp_dtype, resolve_device, seed_everything
from utils.errors import UserError
from utils.io import save_csv
from utils.paths import check_run_id, check_writable_dir, remove_paths, run_lock
from utils.schedule import lr_factor

from .defaults import default_arch
from .train_loop import BatchLoss, accelerated, optimizer_for, predict, supervised, task_loss, train_epoch


def output_paths(args: argparse.Namespace) -> dict[str, Path]:
    run = args.save_model_id
    return {"best": Path(args.model_dir) / f"{run}_best.pt", "last": Path(args.model_dir) / f"{run}_last.pt",
            "log": Path(args.runs_dir) / run / "log.csv", "curves": Path(args.runs_dir) / run / "curves.png"}


def owned_paths(args: argparse.Namespace) -> list[Path]:
    """Everything a training run of --save_model_id writes: what --overwrite clears before the new run starts."""
    run, folder, paths = args.save_model_id, Path(args.model_dir), output_paths(args)
    return [paths["best"], paths["last"], folder / f"{run}_updates", folder / f"{run}_rounds",
            folder / f"{run}_last_clients", paths["log"], paths["curves"]]


def check_outputs(args: argparse.Namespace, paths: dict[str, Path]) -> None:
    """Refuse a bad id, an unwritable folder, clobbering an earlier run, or resuming one that is not there, before
    anything is written."""
    check_run_id(args.save_model_id, "--save_model_id")
    check_writable_dir(args.model_dir, "--model_dir")
    check_writable_dir(args.runs_dir, "--runs_dir")
    existing = [str(p) for p in owned_paths(args) if p.is_file() or (p.is_dir() and any(p.iterdir()))]
    if args.resume:
        if not paths["last"].exists():
            raise UserError(f"--resume: {paths['last']} does not exist; train it first (without --resume)")
    elif existing and not args.overwrite:
        raise UserError(f"{' and '.join(existing[:3])} already exist; add --overwrite to replace the earlier run, "
                        f"--resume to continue it, or choose another --save_model_id")


@contextmanager
def guarded_run(args: argparse.Namespace) -> Iterator[None]:
    """The whole training run of --save_model_id: its lock (taken by the main process only under torchrun), and under
    --overwrite the earlier run's files moved aside, deleted when the new run ends well, put back when it fails (bad
    data, divergence, Ctrl-C): a failed run leaves the earlier one as it was."""
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    with run_lock(args.model_dir, args.save_model_id):
        aside = [] if args.resume or not args.overwrite else move_aside(owned_paths(args))
        try:
            yield
        except BaseException:
            for path, moved in aside:
                remove_paths([path])
                os.replace(moved, path)
            raise
        remove_paths([moved for _, moved in aside])
        if aside:
            print(f"--overwrite: replaced the earlier run's {', '.join(str(path) for path, _ in aside)}")


def move_aside(paths: list[Path]) -> list[tuple[Path, Path]]:
    """Rename each existing path to a hidden name beside it; returns (path, where it went)."""
    moved = []
    for path in paths:
        if path.exists():
            target = path.with_name(f".{path.name}.replaced")
            remove_paths([target])  # left by a run that was killed
            os.replace(path, target)
            moved.append((path, target))
    return moved


# flags a resumed run may change; every other recorded flag is the run's own (a different value is an error)
MAY_CHANGE_ON_RESUME = {"epochs", "resume", "continues", "overwrite", "device", "amp", "num_workers", "cache_mb",
                        "memory_format", "compile", "data_dir", "model_dir", "runs_dir", "json", "save_fig", "no_gui", "verbose", "val_every",
                        "download"}


def adopt_resume_flags(args: argparse.Namespace, recorded: dict, source: Path) -> None:
    """--resume continues the run as it was started: a flag the user gave that differs from the recorded one is an
    error; a flag not given takes the recorded value (so the recorded settings never change)."""
    given = getattr(args, "given", frozenset())
    for key, value in recorded.items():
        if key in MAY_CHANGE_ON_RESUME or not hasattr(args, key) or getattr(args, key) == value:
            continue
        if key in given:
            raise UserError(f"--resume: --{key} {getattr(args, key)} differs from {value} of the run in {source}; "
                            f"drop --{key} to continue that run, or start a new one with another --save_model_id")
        setattr(args, key, value)


def read_resume_point(args: argparse.Namespace, path: Path) -> dict:
    """The *_last.pt checkpoint to continue from; the run's recorded flags are adopted (see adopt_resume_flags)."""
    ckpt = checkpoints.load_checkpoint(path)
    adopt_resume_flags(args, ckpt["meta"].get("args", {}), path)
    if ckpt.get("epoch", ckpt["meta"].get("epoch", 0)) >= args.epochs:
        done = ckpt.get("epoch", ckpt["meta"].get("epoch"))
        raise UserError(f"{path} has already run {done} epochs (rounds); raise --epochs to continue")
    return ckpt


def make_optimizer(model: nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    return optimizer_for(model.parameters(), args.optimizer, args.lr, args.momentum, args.weight_decay)


def save_epoch(paths: dict[str, Path], model: nn.Module, record: dict, is_best: bool, **extra) -> None:
    """After an epoch (or round): the best checkpoint when it is the best, the last one (+ `extra`, e.g. the
    optimiser state to resume from) and the log."""
    if is_best:
        checkpoints.save_checkpoint(paths["best"], model, record)
    checkpoints.save_checkpoint(paths["last"], model, record, **extra)
    save_csv(record["history"], paths["log"])


def plain_args(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, list, type(None)))}


def check_resume_point(args: argparse.Namespace, ckpt: dict, path: Path, data_meta: dict) -> None:
    """The checkpoint to continue from fits the dataset and the arch."""
    checkpoints.check_compatible(ckpt["meta"], data_meta, str(path), args.arch)

class Selection:
    """A run's history and its best checkpoint: chosen on a validation `metric` (higher is better), or the last
    epoch (round) when there is no val split; never on test."""

    def __init__(self, metric: str, has_val: bool, step: str = "epoch", resumed: dict | None = None,
                 floor: float = -1e9) -> None:
        self.metric, self.has_val, self.step = metric, has_val, step
        self.history: list[dict] = resumed["meta"]["history"] if resumed else []
        self.best: dict = resumed["meta"]["best"] if resumed else {metric: floor, "epoch": 0}

    def add(self, row: dict, validated: bool) -> bool:
        """Log the epoch's `row` (validated or not); True when its model is the best so far."""
        self.history.append(row)
        best = self.best[self.metric]
        is_best = not self.has_val or (validated and (best is None or row[self.metric] > best))
        if is_best:
            self.best = ({self.metric: row[self.metric], "epoch": row["epoch"], "selected_on": "val"} if self.has_val
                         else {self.metric: None, "epoch": row["epoch"], "selected_on": f"last {self.step} (no val split)"})
        return is_best

    def record(self, meta: dict, row: dict) -> dict:
        """The checkpoint meta after the epoch of `row`."""
        return {**meta, "epoch": row["epoch"], "best": self.best, "history": self.history,
                "metrics": {self.metric: row[self.metric], f"best_{self.metric}": self.best[self.metric]}}


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Callable[[int], Iterable[Any]],
        batch_loss: BatchLoss, selection: Selection, *, epochs: int, start_epoch: int, steps: int,
        lr_at: Callable[[int], float], validate: Callable[[], dict] | None, val_every: int,
        train_row: Callable[[dict], dict], val_blank: dict, postfix: Callable[[dict, dict, bool], dict],
        meta: dict, paths: dict[str, Path] | None, device: torch.device, amp: torch.dtype | None,
        scaler: torch.amp.GradScaler, show: bool, multilabel: bool = False, net: nn.Module | None = None,
        dist: distributed.Dist | None = None) -> None:
    """The epoch loop of every training run, as torchvision's train_one_epoch then evaluate: an epoch of
    `batches(epoch)` (through `net`, e.g. the DDP wrapper, when given), a log row (`train_row` of its stats, then
    `validate()` every `val_every` epochs and after the last), the best checkpoint chosen by `selection`, and with
    `paths` the best and last checkpoints and the log written after every epoch (by the main process of `dist`)."""
    is_main = dist is None or dist.is_main
    bar = tqdm(range(start_epoch, epochs), desc=meta["model_id"], disable=not show, dynamic_ncols=True,
               initial=start_epoch, total=epochs)
    for epoch in bar:
        started = time.perf_counter()
        stats = train_epoch(model if net is None else net, batches(epoch), optimizer, batch_loss, device=device,
                            multilabel=multilabel, lr_at=lr_at, first_step=epoch * steps, amp=amp, scaler=scaler,
                            desc=f"epoch {epoch + 1}", show=show)
        row = {"epoch": epoch + 1, "lr": round(lr_at(epoch * steps), 8), **train_row(stats), **val_blank, "seconds": 0.0}
        validated = validate is not None and ((epoch + 1) % val_every == 0 or epoch + 1 == epochs)
        if is_main:
            if validated:
                row.update(validate())
            row["seconds"] = round(time.perf_counter() - started, 3)
            is_best = selection.add(row, validated)
            if paths:
                save_epoch(paths, model, selection.record(meta, row), is_best, optimizer=optimizer.state_dict(),
                           epoch=epoch + 1)
            bar.set_postfix(postfix(stats, row, validated))
        if dist is not None:
            dist.barrier()


def run_training(args: argparse.Namespace, train: Callable[[argparse.Namespace, distributed.Dist], dict],
                 processes: bool = True) -> dict:
    """The whole training run of --save_model_id: every output checked before any work, then `train(args, dist)`
    under the run's lock, in the torchrun process group when `processes`."""
    check_outputs(args, output_paths(args))
    with guarded_run(args):
        if processes:
            return distributed.run_in_group(train, args)
        return train(args, distributed.Dist(device=resolve_device(args.device)))


def train_model(args: argparse.Namespace) -> dict:
    """Train (or resume) the model the flags describe; returns a summary of the run."""
    return run_training(args, _train)


def _train(args: argparse.Namespace, dist: distributed.Dist) -> dict:
    paths = output_paths(args)
    resumed = read_resume_point(args, paths["last"]) if args.resume else None
    if args.amp and dist.device.type != "cuda":
        if args.device == "cpu":
            raise UserError("--amp needs CUDA; drop --amp or use --device cuda")
        print("note: --amp ignored on CPU (fp32 is faster there)")
    clean = datasets.load(args)
    if resumed:
        check_resume_point(args, resumed, paths["last"], clean.describe())
    manipulation = resumed["meta"].get("manipulation") if resumed else manipulate.plan(args, clean)
    data = manipulate.apply(clean, manipulation)
    data_meta = data.describe()
    arch = resumed["meta"]["arch"] if resumed else (args.arch or default_arch("classification"))
    imagenet_arch = resumed["meta"].get("imagenet_arch", False) if resumed else args.imagenet_arch
    seed_everything(args.seed)
    model = models.create_model(arch, data.num_classes, data.in_channels, imagenet_arch=imagenet_arch)
    start_epoch = resumed["epoch"] if resumed else 0
    if resumed:
        model.load_state_dict(resumed["state_dict"])
    elif args.pretrained:
        skipped = models.load_pretrained(model, args.pretrained)
        if dist.is_main:
            print(f"loaded {args.pretrained}" + (f" (kept fresh: {', '.join(skipped)})" if skipped else ""))
    model.to(dist.device)
    optimizer = make_optimizer(model, args)
    if resumed:
        optimizer.load_state_dict(resumed["optimizer"])
    accelerated(model, args.memory_format)
    net = accelerated(nn.parallel.DistributedDataParallel(model) if dist.enabled else model,
                      compile_model=args.compile)

    show = dist.is_main
    train_batches = BatchLoader(data.train, args.batch_size, data.mean, data.std, dist.device, shuffle=True,
                                augment=not args.no_aug, hflip=data.hflip, seed=args.seed,
                                rank=dist.rank, world_size=dist.world_size)
    val_batches = BatchLoader(data.val, args.batch_size, data.mean, data.std, dist.device)
    has_val = len(data.val) > 0
    selection = Selection("val_acc", has_val, resumed=resumed, floor=-1.0)
    steps = len(train_batches)
    total_steps, warmup = args.epochs * steps, args.warmup_epochs * steps

    def lr_at(step: int) -> float:
        return args.lr * lr_factor(step, total_steps, warmup, args.scheduler)

    loss_fn = task_loss(data.multilabel)
    amp = amp_dtype(dist.device, args.amp)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    meta = {**data_meta, "arch": arch, "imagenet_arch": bool(imagenet_arch), "model_id": args.save_model_id,
            "args": plain_args(args), "world_size": dist.world_size, "manipulation": manipulation}
    if show and manipulation:
        print(f"manipulated training set: {manipulation['method']} of {len(manipulation['indices'])} samples")
    if show:
        print(f"training {arch} on {data.name} ({len(data.train)} train / {len(data.val)} val images, "
              f"{data.num_classes} classes) on {dist.device}" + (f" x{dist.world_size} processes" if dist.enabled else "")
              + ("" if has_val else "; no val split: keeping the last epoch as the best checkpoint"))
    def epoch_batches(epoch: int) -> BatchLoader:
        train_batches.set_epoch(epoch)
        return train_batches

    def validate() -> dict:
        logits, labels = predict(model, val_batches, amp)
        return {"val_loss": round(loss_fn(logits, labels).item(), 6),
                "val_acc": round(metrics.accuracy(logits, labels, data.multilabel), 4)}

    fit(model, optimizer, epoch_batches, supervised(loss_fn), selection, epochs=args.epochs, start_epoch=start_epoch,
        steps=steps, lr_at=lr_at, validate=validate if has_val else None, val_every=args.val_every,
        train_row=lambda stats: {"train_loss": round(stats["loss"], 6), "train_acc": round(stats["acc"], 4)},
        val_blank={"val_loss": "", "val_acc": ""},
        postfix=lambda stats, row, validated: {"loss": f"{stats['loss']:.4f}", "acc": f"{stats['acc']:.1f}",
                                               "val": f"{row['val_acc']:.1f}" if validated else "-"},
        meta=meta, paths=paths, device=dist.device, amp=amp, scaler=scaler, show=show, multilabel=data.multilabel,
        net=net, dist=dist)
    if not dist.is_main:
        return {}
    plots.training_curves(selection.history, paths["curves"])
    best_model, _ = models.load_model(str(paths["best"]), args.model_dir, data_meta, dist.device)
    test_batches = BatchLoader(data.test, args.batch_size, data.mean, data.std, dist.device)
    logits, labels = predict(best_model, test_batches, amp)
    summary = {"best_val_acc": selection.best["val_acc"], "best_epoch": selection.best["epoch"],
               "test_acc": metrics.accuracy(logits, labels, data.multilabel),
               "best": str(paths["best"]), "last": str(paths["last"]), "run_dir": str(paths["log"].parent)}
    return summary
