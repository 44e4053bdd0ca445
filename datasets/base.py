"""In-memory image classification data: uint8 N×C×H×W splits plus labels and metadata."""
from dataclasses import dataclass, field

import torch

MULTI_LABEL = "multi-label, binary-class"


@dataclass
class Split:
    """One split held whole in memory: uint8 images N×C×H×W, labels int64 N (or float N×L for multi-label)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 N×C×H×W, got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: torch.Tensor) -> "Split":
        indices = torch.as_tensor(indices, dtype=torch.long)
        return Split(self.images[indices.to(self.images.device)], self.labels[indices.to(self.labels.device)])

    def to(self, device: torch.device | str) -> "Split":
        return Split(self.images.to(device), self.labels.to(device))


@dataclass
class ImageDataset:
    """Train / val / test splits of one dataset and what a model needs to know about it."""

    name: str
    task: str
    class_names: list[str]
    train: Split
    val: Split
    test: Split
    hflip: bool = False
    source: str = ""
    mean: tuple[float, ...] = field(init=False)
    std: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.mean, self.std = channel_stats(self.train.images)

    @property
    def multilabel(self) -> bool:
        return self.task == MULTI_LABEL

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def in_channels(self) -> int:
        return self.train.images.shape[1]

    @property
    def size(self) -> int:
        return self.train.images.shape[-1]

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def place(self, device: torch.device) -> "ImageDataset":
        """Move every split onto `device` once (or into pinned memory when it does not fit there)."""
        from .batching import place
        for name in ("train", "val", "test"):
            setattr(self, name, place(self.split(name), device))
        return self

    def describe(self) -> dict:
        """Plain-typed facts about the data, as stored in a checkpoint's meta."""
        return {
            "dataset": self.name,
            "task": self.task,
            "class_names": list(self.class_names),
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "size": self.size,
            "mean": list(self.mean),
            "std": list(self.std),
        }


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images in [0, 1], computed in chunks to bound memory."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].to(torch.float64).div_(255)
        total += x.sum(dim=(0, 2, 3)).cpu()
        total_sq += x.square().sum(dim=(0, 2, 3)).cpu()
    count = len(images) * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(1e-12).sqrt().clamp_min(1e-3)
    return tuple(round(v, 6) for v in mean.tolist()), tuple(round(v, 6) for v in std.tolist())


HOST_SHARE = 0.25  # splits above this share of the machine's RAM are memory-mapped, not loaded


def host_memory_budget() -> int:
    """Bytes of images a dataset may hold in RAM: a quarter of the machine's physical memory."""
    import os
    return int(HOST_SHARE * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))

