"""Reconstruction evaluation per volume, shared by training, unlearning and testing, and the reconstruction of
volumes for fastMRI submissions."""
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from datasets.mri.data import ReconData, SliceDataset, make_loader
from utils.recon_metrics import volume_metrics

from .train_loop import autocast, to_device

METRICS = ("psnr", "ssim", "nmse")


@dataclass
class Example:
    """One slice for figures and the viewer: zero-filled input, output (None when only data are shown) and target."""

    group: str
    fname: str
    slice_num: int
    zero_filled: np.ndarray
    output: np.ndarray | None
    target: np.ndarray


def _stack_volumes(rows: Iterable[tuple]) -> Iterator[tuple]:
    """(volume index, stacks ...) from per-slice rows (volume index, tensors ...) that come volume after volume."""
    current, parts = None, []
    for v, *tensors in rows:
        if current is not None and v != current:
            yield current, *map(torch.stack, zip(*parts))
            parts = []
        current = v
        parts.append(tensors)
    if parts:
        yield current, *map(torch.stack, zip(*parts))


def _batches(dataset: SliceDataset, device: torch.device, batch_size: int, num_workers: int,
             show: bool) -> Iterator[dict]:
    loader = make_loader(dataset, batch_size, num_workers=num_workers, device=device)
    for batch in tqdm(loader, desc="reconstruct", leave=False, disable=not show, dynamic_ncols=True):
        yield to_device(batch, device)


def _volume_stacks(model: nn.Module, dataset: SliceDataset, device: torch.device, batch_size: int,
                   num_workers: int, amp: torch.dtype | None, show: bool) -> Iterator[tuple]:
    """(volume index, target, output, zero-filled) stacks, one volume at a time, in file order."""
    def rows() -> Iterator[tuple]:
        for batch in _batches(dataset, device, batch_size, num_workers, show):
            with autocast(device, amp):
                output = batch.to_image(batch.predict(model).float())
            yield from zip(batch.volume.tolist(), batch.target.cpu(), output.cpu(), batch.zero_filled().float().cpu())
    yield from _stack_volumes(rows())


@torch.no_grad()
def reconstruct_volumes(model: nn.Module, dataset: SliceDataset, device: torch.device, *,
                        batch_size: int = 8, num_workers: int = 0, amp: torch.dtype | None = None,
                        show: bool = False) -> Iterator[tuple[int, torch.Tensor]]:
    """(volume index, output slices × H × W) one volume at a time, as fastMRI's test steps give them: a U-Net's in its
    input's crop, a VarNet's centre-cropped to the sample's `crop`."""
    model.eval()

    def rows() -> Iterator[tuple]:
        for batch in _batches(dataset, device, batch_size, num_workers, show):
            with autocast(device, amp):
                outputs = batch.reconstruct(model)
            yield from zip(batch.volume.tolist(), (out.cpu() for out in outputs))
    yield from _stack_volumes(rows())


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
        for v, target, output, zf in _volume_stacks(model, dataset, device, batch_size, num_workers, amp, show):
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
