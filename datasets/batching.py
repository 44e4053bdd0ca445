"""Batches straight from in-memory uint8 tensors: seeded order, augmentation and normalisation on whole batches."""
from dataclasses import replace
from typing import Iterator

import numpy as np
import torch

from .base import Split, host_memory_budget
from .manipulate import PoisonedSplit

DEVICE_SHARE = 0.5  # a split moves onto the GPU when it needs at most this share of the free memory


def place(split: Split, device: torch.device) -> Split:
    """Put a split on `device` when it fits there; otherwise keep it in pinned host memory (or, when it is too
    large for RAM, where it is: memory-mapped)."""
    if device.type != "cuda":
        return split.to(device)
    if split.images.device == device or split.images.is_pinned():
        return split
    free, _ = torch.cuda.mem_get_info(device)
    if split.images.numel() + split.labels.numel() * split.labels.element_size() <= DEVICE_SHARE * free:
        return split.to(device)
    if split.images.numel() > host_memory_budget():  # memory-mapped: pinning would copy it all into RAM
        return split
    return replace(split, images=split.images.cpu().pin_memory(), labels=split.labels.cpu().pin_memory())


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator that depends on (seed, epoch) only, so a resumed run draws the same numbers."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, epoch]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def random_crop_flip(images: torch.Tensor, pad: int, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding `pad` (and, with `hflip`, a left-right flip of half the images), in one gather."""
    b, c, h, w = images.shape
    padded = images.new_zeros((b, c, h + 2 * pad, w + 2 * pad))
    padded[:, :, pad:pad + h, pad:pad + w] = images
    offsets = torch.randint(0, 2 * pad + 1, (2, b), generator=generator)
    cols = torch.arange(w).expand(b, w)
    if hflip:
        flip = torch.rand(b, generator=generator) < 0.5
        cols = torch.where(flip[:, None], cols.flip(1), cols)
    rows = offsets[0, :, None] + torch.arange(h)
    cols = offsets[1, :, None] + cols
    index = (rows[:, :, None] * (w + 2 * pad) + cols[:, None, :]).reshape(b, 1, h * w).to(images.device)
    return padded.reshape(b, c, -1).gather(2, index.expand(b, c, h * w)).reshape(b, c, h, w)


class Normalize:
    """uint8 images -> float (x/255 - mean) / std, per channel, on the images' device."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
        self.std = torch.tensor(std, dtype=torch.float32)[None, :, None, None]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.mean.device != images.device:
            self.mean, self.std = self.mean.to(images.device), self.std.to(images.device)
        return (images.float().div_(255) - self.mean) / self.std


class BatchLoader:
    """Iterate a Split in (x, y) batches on `device`: x normalised float, y the labels.

    With `shuffle` each epoch has its own seeded permutation (call `set_epoch`); with `augment`
    training batches get a random crop with padding and, where `hflip`, a random horizontal flip.
    `indices` restricts the walk to those rows (a retain or forget set) without copying images. The poisoned rows
    of a PoisonedSplit get its trigger on every batch, after augmentation and normalisation.
    Under torch.distributed every rank walks the same global batches and keeps its share of each.
    """

    def __init__(self, split: Split, batch_size: int, mean: tuple[float, ...], std: tuple[float, ...],
                 device: torch.device | str = "cpu", *, shuffle: bool = False, augment: bool = False,
                 hflip: bool = False, seed: int = 0, rank: int = 0, world_size: int = 1,
                 indices: torch.Tensor | None = None) -> None:
        self.device = torch.device(device)
        self.split = place(split, self.device)
        self.indices = None if indices is None else torch.as_tensor(indices, dtype=torch.long)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.augment, self.hflip = augment, hflip
        self.pad = max(1, split.images.shape[-1] // 8)
        self.rank, self.world_size = rank, world_size
        self.normalize = Normalize(mean, std)
        self.mean, self.std = tuple(mean), tuple(std)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _rows(self) -> int:
        return len(self.split) if self.indices is None else len(self.indices)

    def _global_batches(self, generator: torch.Generator) -> list[torch.Tensor]:
        n = self._rows()
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        if self.indices is not None:
            order = self.indices[order]
        batches = list(order.split(self.batch_size))
        if self.world_size > 1 and batches and len(batches[-1]) < self.world_size:
            batches.pop()  # every rank needs a non-empty share of every batch
        return batches

    def __len__(self) -> int:
        n, b = self._rows(), self.batch_size
        full = -(-n // b)
        if self.world_size > 1 and n % b and n % b < self.world_size:
            full -= 1
        return full

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = epoch_generator(self.seed, self.epoch)
        for batch in self._global_batches(generator):
            rows = batch[self.rank::self.world_size]
            index = rows.to(self.split.images.device)
            images = self.split.images[index].to(self.device, non_blocking=True)
            labels = self.split.labels[index].to(self.device, non_blocking=True)
            if self.augment:
                images = random_crop_flip(images, self.pad, self.hflip, generator)
            images = self.normalize(images)
            if isinstance(self.split, PoisonedSplit):
                self.split.trigger.stamp(images, self.split.poisoned[rows].to(self.device), self.mean, self.std)
            yield images, labels
