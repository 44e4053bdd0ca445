"""The reconstruction training step loop and evaluation per volume, shared by training, unlearning and testing."""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from datasets.mri import ReconData, SliceDataset, make_loader

from .recon import forward, to_device, to_image, zero_filled
from .recon_metrics import volume_metrics
from .train_loop import autocast, optimizer_step

BatchLoss = Callable[[nn.Module, dict], torch.Tensor]  # (model, batch on the device) -> scalar loss
METRICS = ("psnr", "ssim", "nmse")


def train_recon_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, batch_loss: BatchLoss,
                      device: torch.device, *, lr_at: Callable[[int], float] | None = None, first_step: int = 0,
                      amp: torch.dtype | None = None, scaler: torch.amp.GradScaler | None = None, mask=None,
                      desc: str = "train", show: bool = True) -> dict:
    """One pass over `loader`, one optimiser step per batch; returns the mean loss."""
    model.train()
    total, seen = 0.0, 0
    bar = tqdm(loader, desc=desc, leave=False, disable=not show, dynamic_ncols=True)
    for i, batch in enumerate(bar):
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(first_step + i)
        batch = to_device(batch, device)
        with autocast(device, amp):
            loss = batch_loss(model, batch)
        optimizer_step(loss, optimizer, scaler, mask)
        n = len(batch["target"])
        total += loss.item() * n
        seen += n
        bar.set_postfix(loss=f"{total / max(seen, 1):.4f}")
    return {"loss": total / max(seen, 1), "steps": len(loader)}


@dataclass
class Example:
    """One slice for figures and the viewer: zero-filled input, output (None when only data are shown) and target."""

    group: str
    fname: str
    slice_num: int
    zero_filled: np.ndarray
    output: np.ndarray | None
    target: np.ndarray


def _volume_stacks(model: nn.Module, dataset: SliceDataset, kind: str, device: torch.device, batch_size: int,
                   num_workers: int, amp: torch.dtype | None, show: bool):
    """(volume index, target, output, zero-filled) stacks, one volume at a time, in file order."""
    current, parts = None, []
    loader = make_loader(dataset, batch_size, num_workers=num_workers, device=device)
    for batch in tqdm(loader, desc="reconstruct", leave=False, disable=not show, dynamic_ncols=True):
        batch = to_device(batch, device)
        with autocast(device, amp):
            output = to_image(forward(model, batch, kind).float(), batch, kind)
        rows = zip(batch["volume"].tolist(), batch["target"].cpu(), output.cpu(), zero_filled(batch, kind).float().cpu())
        for v, target, out, zf in rows:
            if current is not None and v != current:
                yield current, *map(torch.stack, zip(*parts))
                parts = []
            current = v
            parts.append((target, out, zf))
    if parts:
        yield current, *map(torch.stack, zip(*parts))


@torch.no_grad()
def evaluate_recon(model: nn.Module, data: ReconData, split: str, kind: str, device: torch.device, *,
                   batch_size: int = 8, num_workers: int = 0, groups: list[str] | None = None,
                   amp: torch.dtype | None = None, examples_per_group: int = 20, show: bool = False) -> dict:
    """NMSE, PSNR, SSIM per volume, summarised per group as mean and std over volumes, for the model and for the
    zero-filled input; plus the middle slice of the first volumes of each group as examples."""
    model.eval()
    report, examples = {}, []
    for group in groups or data.groups:
        dataset = data.slices(split, kind, [group])
        rows, baseline = [], []
        for v, target, output, zf in _volume_stacks(model, dataset, kind, device, batch_size, num_workers, amp, show):
            volume = dataset.volumes[v]
            rows.append(volume_metrics(target, output, volume.max_value))
            baseline.append(volume_metrics(target, zf, volume.max_value))
            if len(rows) <= examples_per_group:
                mid = len(target) // 2
                examples.append(Example(group, Path(volume.path).name, mid, zf[mid].numpy(), output[mid].numpy(),
                                        target[mid].numpy()))
        report[group] = {**summarise(rows), "volumes": len(rows), "slices": len(dataset),
                         "zero_filled": summarise(baseline)}
    return {"groups": report, "examples": examples}


def summarise(rows: list[dict]) -> dict:
    """Mean and standard deviation over volumes of each metric."""
    out = {}
    for key in METRICS:
        values = np.array([r[key] for r in rows], dtype=np.float64)
        out[key], out[f"{key}_std"] = float(values.mean()), float(values.std())
    return out


def mean_psnr(report: dict) -> float:
    """One number for model selection: PSNR averaged over the groups."""
    return float(np.mean([g["psnr"] for g in report["groups"].values()]))
