"""Unlearning a group (organ or site) from a reconstruction model: the forget set, the task (whose loaders
unlearn.task.optimise drives, as for a classifier) and the batch losses of the MRI methods."""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from datasets.mri.data import ReconData, SliceDataset, make_loader
from datasets.mri.samples import MriSample
from engine.recon import l1_norm, sample_loss, with_noisy_targets
from engine.recon_training import plain_loss
from engine.train_loop import BatchLoss, Step, optimizer_for
from utils.errors import UserError

from ..masks import WeightMask


@dataclass
class GroupForget:
    """The train slices of one group, as rows of the train slices of all groups (in --train_groups order)."""

    group: str
    indices: torch.Tensor
    volumes: list[str]

    def to_meta(self) -> dict:
        return {"group": self.group, "volumes": self.volumes, "indices": self.indices.tolist(),
                "size": len(self.indices), "classes": [], "classwise": False}

    def label(self, hp: dict | None = None) -> str:
        """How a model id names this set: knee, or knee-retain10 for a method that sees 10 % of the retain slices."""
        ratio = (hp or {}).get("retain_ratio")
        return self.group if ratio in (None, 1.0) else f"{self.group}-retain{ratio * 100:g}"


def resolve_group(data: ReconData, group: str | None, flag: str = "--forget_group") -> GroupForget:
    """The forget set --forget_group (or --forget_site) names, checked against the groups."""
    if not group:
        raise UserError(f"say which group to forget: {flag} NAME (one of: {', '.join(data.groups)})")
    if group not in data.groups:
        raise UserError(f"{flag} {group!r} is not among the groups ({', '.join(data.groups)}) of the data")
    if len(data.groups) < 2:
        raise UserError(f"{flag} {group}: the data hold only that group; nothing would be left to retain")
    rows, start = [], 0
    for g in data.groups:
        n = sum(v.num_slices for v in data.volumes("train", [g]))
        if g == group:
            rows = list(range(start, start + n))
        start += n
    names = [Path(v.path).name for v in data.volumes("train", [group])]
    return GroupForget(group, torch.tensor(rows, dtype=torch.long), names)


@dataclass
class ReconTask:
    data: ReconData
    forget: GroupForget
    meta: dict  # the original model's checkpoint meta (arch, model_kwargs, kind, loss, args)
    device: torch.device
    hp: dict  # epochs, lr, batch_size, optimizer, seed, retain_ratio and the method's own knobs
    mask: dict[str, torch.Tensor] | None = None
    original: nn.Module | None = None
    show: bool = True
    num_workers: int = 0
    after_epoch: Callable[[int, nn.Module], None] | None = None  # called after each epoch of optimise (tuning)
    _train: SliceDataset | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def retain_groups(self) -> list[str]:
        return [g for g in self.data.groups if g != self.forget.group]

    @property
    def train_slices(self) -> SliceDataset:
        """All groups' train slices with fresh masks per epoch; rows select the forget set or a retain subset."""
        if self._train is None:
            self._train = self.data.slices("train", self.kind, train=True,
                                           augment=self.meta["args"].get("mri_aug", False),
                                           affine_p=self.meta["args"].get("mri_aug_affine", 0.0))
        return self._train

    def retain_rows(self) -> torch.Tensor:
        """A seeded share (--retain_ratio, at least one slice) of the retain slices."""
        keep = torch.ones(len(self.train_slices), dtype=torch.bool)
        keep[self.forget.indices] = False
        rows = keep.nonzero().flatten()
        ratio = self.hp.get("retain_ratio", 1.0)
        if ratio < 1:
            count = max(1, round(len(rows) * ratio))
            chosen = np.random.default_rng(self.hp["seed"]).choice(len(rows), size=count, replace=False)
            rows = rows[torch.from_numpy(np.sort(chosen))]
        return rows

    def rows(self, retain: bool, forget: bool) -> torch.Tensor:
        parts = ([self.retain_rows()] if retain else []) + ([self.forget.indices] if forget else [])
        return torch.cat(parts).sort().values

    def is_forget(self, batch: MriSample) -> torch.Tensor:
        """Which slices of a batch come from the forget group."""
        volumes = self.train_slices.volumes
        return torch.tensor([volumes[v].group == self.forget.group for v in batch.volume.tolist()],
                            device=batch.target.device)

    def model_info(self, model: nn.Module) -> dict:
        """Nothing beyond the original's meta: an unlearned reconstruction network keeps its shape."""
        return {}

    def make_optimizer(self, model: nn.Module, lr: float | None = None) -> torch.optim.Optimizer:
        params = [p for p in model.parameters() if p.requires_grad]
        return optimizer_for(params, self.hp.get("optimizer", "adam"), self.hp["lr"] if lr is None else lr,
                             self.hp.get("momentum", 0.9), self.hp.get("weight_decay", 0.0))

    def weight_mask(self, model: nn.Module) -> WeightMask | None:
        return WeightMask(model, self.mask) if self.mask is not None else None

    def train_loss(self) -> BatchLoss:
        """The loss the original model was trained with, on a slice batch (unlearn.task.optimise's passes)."""
        return plain_loss(self.meta["loss"])

    def loader(self, which: str, epoch: int = 0) -> "SliceBatches":
        """Batches of the forget group's, a retain share's (--retain_ratio), both mixed, or all train slices, per
        epoch."""
        rows = {"forget": self.forget.indices, "retain": self.retain_rows(), "retain+forget": self.rows(True, True),
                "train": None}[which]
        return SliceBatches(self, rows, epoch)


@dataclass
class SliceBatches:
    """Shuffled slice batches of some train rows, in a seeded order per epoch (the interface of datasets.batching's
    BatchLoader, which unlearn.task.optimise drives)."""

    task: ReconTask
    rows: torch.Tensor | None
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        count = len(self.task.train_slices) if self.rows is None else len(self.rows)
        return -(-count // self.task.hp["batch_size"])

    def __iter__(self):
        return iter(make_loader(self.task.train_slices, self.task.hp["batch_size"], shuffle=True,
                                seed=self.task.hp["seed"], epoch=self.epoch, num_workers=self.task.num_workers,
                                device=self.task.device, rows=self.rows))


TargetFn = Callable[[MriSample, torch.Tensor], MriSample]  # (batch, which slices are forget slices) -> batch


def noisy_targets(task: ReconTask) -> TargetFn:
    """NL: forget slices' targets plus |N(0,1)|·noise_lambda (× the volume max, or as it is with --noise_scale
    absolute), from a generator seeded once per run."""
    noise = torch.Generator().manual_seed(task.hp["seed"])
    relative = task.hp.get("noise_scale", "max") == "max"
    return lambda batch, on_forget: with_noisy_targets(batch, on_forget, task.hp["noise_lambda"], noise, relative)


def group_loss(task: ReconTask, *, forget_weight: float = 1.0, targets: TargetFn | None = None,
               l1: float = 0.0) -> BatchLoss:
    """The training loss per slice of a batch that may mix retain and forget slices, averaged: forget slices weighted
    by `forget_weight` (−1: gradient ascent), their targets first replaced by `targets` (NL), plus
    l1·(share of forget slices)·‖θ‖₁ (GA-ℓ1)."""
    loss = sample_loss(task.meta["loss"])

    def batch_loss(net: nn.Module, batch: MriSample) -> Step:
        on_forget = task.is_forget(batch)
        if targets is not None:
            batch = targets(batch, on_forget)
        per_slice = loss(batch.predict(net), batch)
        if forget_weight != 1.0:
            per_slice = torch.where(on_forget, forget_weight * per_slice, per_slice)
        total = per_slice.mean()
        if l1 and on_forget.any():
            total = total + l1 * on_forget.float().mean() * l1_norm(net)
        return Step(total, len(per_slice))
    return batch_loss
