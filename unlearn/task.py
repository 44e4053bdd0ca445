"""What an unlearning method works with (data, forget set, hyper-parameters, mask) and the loop they share."""
import copy
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn
from tqdm import tqdm

from datasets.base import ImageDataset
from datasets.batching import BatchLoader
from engine.train_loop import BatchLoss, optimizer_for, supervised, task_loss, train_epoch
from models import classifier
from utils.schedule import lr_factor

from .forget_sets import ForgetSet
from .masks import WeightMask

if TYPE_CHECKING:  # a reconstruction task also runs the passes; it imports nothing from here
    from .recon.task import ReconTask


@dataclass
class UnlearnTask:
    data: ImageDataset
    forget: ForgetSet
    meta: dict  # the original model's checkpoint meta (arch, normalisation, training flags)
    device: torch.device
    hp: dict  # resolved hyper-parameters: epochs, lr, batch_size, optimizer, seed, and the method's own knobs
    mask: dict[str, torch.Tensor] | None = None
    original: nn.Module | None = None  # a frozen copy of the model before unlearning
    show: bool = True
    after_epoch: Callable[[int, nn.Module], None] | None = None  # called after each epoch of optimise (tuning)
    _retain: torch.Tensor | None = field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    @property
    def retain_indices(self) -> torch.Tensor:
        if self._retain is None:
            self._retain = self.forget.retain_indices(len(self.data.train))
        return self._retain

    def rows(self, which: str | torch.Tensor) -> torch.Tensor | None:
        if isinstance(which, torch.Tensor):  # explicit train rows (BadT: forget ∪ a share of retain)
            return which
        return {"forget": self.forget.indices, "retain": self.retain_indices, "train": None}[which]

    def loader(self, which: str, epoch: int = 0, labels: torch.Tensor | None = None, shuffle: bool = True,
               augment: bool = True, batch_size: int | None = None) -> BatchLoader:
        """Batches of the forget, retain or whole train rows, optionally with replaced labels."""
        split = self.data.train if labels is None else replace(self.data.train, labels=labels.to(self.data.train.labels.device))
        loader = BatchLoader(split, batch_size or self.hp["batch_size"], tuple(self.meta["mean"]), tuple(self.meta["std"]),
                             self.device, shuffle=shuffle, augment=augment and not self.meta["args"].get("no_aug", False),
                             hflip=self.data.hflip, seed=self.hp["seed"], indices=self.rows(which))
        loader.set_epoch(epoch)
        return loader

    def marked_labels(self) -> torch.Tensor:
        """Train labels with forget rows marked as -y-1 (SalUn's marking), for losses that treat them differently."""
        labels = self.data.train.labels.clone()
        rows = self.forget.indices.to(labels.device)
        labels[rows] = -labels[rows] - 1
        return labels

    def frozen_original(self) -> nn.Module:
        assert self.original is not None
        return self.original

    def make_optimizer(self, model: nn.Module, lr: float | None = None) -> torch.optim.Optimizer:
        lr = lr if lr is not None else self.hp["lr"]
        params = [p for p in model.parameters() if p.requires_grad]
        name = self.hp.get("optimizer", "sgd")
        decay = self.hp.get("weight_decay", 5e-4 if name == "sgd" else 0.0)
        return optimizer_for(params, name, lr, self.hp.get("momentum", 0.9), decay)

    def weight_mask(self, model: nn.Module) -> WeightMask | None:
        return WeightMask(model, self.mask) if self.mask is not None else None

    def train_loss(self) -> BatchLoss:
        """The loss the original model was trained with (cross-entropy, or BCE per label), on an (x, y) batch."""
        return supervised(task_loss(self.data.multilabel))

    def model_info(self, model: nn.Module) -> dict:
        """What the unlearned checkpoint must record to be rebuilt: its outputs when a method changed them
        (boundary_expanding's shadow class keeps K+1)."""
        outputs = classifier(model).out_features
        return {"outputs": outputs} if outputs != self.num_classes else {}


def marked_split(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(is_forget, true label) from SalUn-marked labels."""
    forget = labels < 0
    return forget, torch.where(forget, -labels - 1, labels)


@dataclass
class Pass:
    """One sweep per epoch over some rows with one batch loss."""

    rows: str  # "forget", "retain" or "train"
    loss: BatchLoss
    labels: Callable[[int], torch.Tensor] | None = None  # epoch -> labels of the whole train split
    active: Callable[[int], bool] = lambda epoch: True
    before_epoch: Callable[[int], None] | None = None
    name: str = ""


def optimise(model: nn.Module, task: "UnlearnTask | ReconTask", passes: list[Pass], epochs: int | None = None,
             lr: float | None = None, desc: str = "unlearn") -> nn.Module:
    """epochs × passes with one optimiser, the task's learning-rate schedule and the SalUn mask if any; for a
    classifier's task or a reconstruction network's alike (relabelling passes are a classifier's)."""
    epochs = epochs if epochs is not None else task.hp["epochs"]
    base_lr = lr if lr is not None else task.hp["lr"]
    optimizer = task.make_optimizer(model, base_lr)
    mask = task.weight_mask(model)
    loaders = [task.loader(p.rows) for p in passes]
    steps = sum(len(loader) for loader in loaders)
    total = epochs * steps

    def lr_at(step: int) -> float:
        return base_lr * lr_factor(step, total, task.hp.get("warmup_epochs", 0) * steps, task.hp.get("scheduler", "none"))

    step = 0
    bar = tqdm(range(epochs), desc=desc, disable=not task.show, dynamic_ncols=True)
    for epoch in bar:
        for p, loader in zip(passes, loaders):
            if not p.active(epoch):
                continue
            if p.before_epoch is not None:
                p.before_epoch(epoch)
            batches = task.loader(p.rows, epoch, labels=p.labels(epoch)) if p.labels else loader
            batches.set_epoch(epoch)
            stats = train_epoch(model, batches, optimizer, p.loss, device=task.device, lr_at=lr_at, first_step=step,
                                mask=mask, desc=p.name or p.rows, show=task.show)
            step += len(batches)
            bar.set_postfix({f"{p.name or p.rows}_loss": f"{stats['loss']:.3f}"})
        if task.after_epoch is not None:
            task.after_epoch(epoch, model)
    return model


def frozen_copy(model: nn.Module) -> nn.Module:
    clone = copy.deepcopy(model).eval()
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone
